"""Salesforce-shaped errors raised inside the sandbox org and turned into API responses."""

from __future__ import annotations

from typing import Any


class RecordError(Exception):
    """One record-level failure, as a Collections result reports it (``statusCode``)."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.fields = list(fields or [])

    def as_result(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


class ApiError(Exception):
    """A request-level failure: HTTP status plus Salesforce's error envelope (``errorCode``)."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def envelope(self) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            body["fields"] = self.fields
        return [body]

    @classmethod
    def from_record_error(cls, error: RecordError, status: int = 400) -> "ApiError":
        return cls(status, error.status_code, error.message, error.fields)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")
