"""Field value checks and conversions, with Salesforce's error codes and messages."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
from typing import Any

from .errors import RecordError
from .schema import FieldSpec

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


_second_stamp: tuple[int, str] = (-1, "")   # the last whole second now_stamp formatted, and its text


def now_stamp(moment: dt.datetime | None = None) -> str:
    """A datetime in the form the REST API returns: ``2024-01-31T10:00:00.000+0000``.

    The current moment's text up to its seconds is formatted once per second (a Bulk job stamps thousands
    of records a second); only the milliseconds are new per call.
    """
    global _second_stamp
    if moment is None:
        second, milli = divmod(int(time.time() * 1000), 1000)
        if _second_stamp[0] != second:
            _second_stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        return f"{_second_stamp[1]}{milli:03d}+0000"
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> dt.datetime:
    """Parse the ISO forms Salesforce accepts (``Z``, ``+0000``, ``+00:00``, no zone = UTC)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", text)
    if match:
        text = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _type_error(spec: FieldSpec, value: Any) -> RecordError:
    return RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                       f"{spec.label}: value not of required type: {value}", [spec.name])


def coerce(spec: FieldSpec, value: Any) -> Any:
    """Convert an incoming JSON value to the stored form of ``spec``'s type, or raise RecordError."""
    if value is None or (value == "" and spec.type not in ("string", "textarea")):
        return None
    ftype = spec.type
    if ftype in ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"):
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise _type_error(spec, value)
        text = value if isinstance(value, str) else str(value)
        if text == "":
            return None
        if spec.length and len(text) > spec.length:
            raise RecordError("STRING_TOO_LONG",
                              f"{spec.label}: data value too large: {text[:80]} (max length={spec.length})",
                              [spec.name])
        if ftype == "email" and not _EMAIL_RE.match(text):
            raise RecordError("INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {text}",
                              [spec.name])
        if ftype == "picklist" and spec.restricted_picklist and text not in spec.picklist_values:
            raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"{spec.label}: bad value for restricted picklist field: {text}", [spec.name])
        if ftype == "multipicklist" and spec.restricted_picklist:
            bad = next((part for part in text.split(";") if part.strip() not in spec.picklist_values), None)
            if bad is not None:
                raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  f"{spec.label}: bad value for restricted picklist field: {bad.strip()}", [spec.name])
        return text
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(spec, value)
    if ftype == "int":
        if isinstance(value, bool):
            raise _type_error(spec, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _type_error(spec, value) from None
        if number != int(number):
            raise _type_error(spec, value)
        return int(number)
    if ftype in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise _type_error(spec, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _type_error(spec, value) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _type_error(spec, value)
        integral_digits = len(str(int(abs(number))))
        if spec.precision and integral_digits > spec.precision - spec.scale:
            raise RecordError("NUMBER_OUTSIDE_VALID_RANGE",
                              f"{spec.label}: value outside of valid range on numeric field: {value}",
                              [spec.name])
        return int(number) if number == int(number) and isinstance(value, int) else number
    if ftype == "date":
        if not isinstance(value, str):
            raise _type_error(spec, value)
        text = value[:10] if "T" in value else value
        if not _DATE_RE.match(text):
            raise _type_error(spec, value)
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise _type_error(spec, value) from None
        return text
    if ftype == "datetime":
        if not isinstance(value, str):
            raise _type_error(spec, value)
        try:
            return now_stamp(parse_datetime(value))
        except ValueError:
            raise _type_error(spec, value) from None
    if ftype == "base64":
        return _base64(spec, value)
    if ftype in ("reference", "id"):
        if not isinstance(value, str):
            raise RecordError("MALFORMED_ID", f"{spec.label}: id value of incorrect type: {value}", [spec.name])
        return value
    raise _type_error(spec, value)


def _base64(spec: FieldSpec, value: Any) -> Any:
    """A base64 field's value: JSON text decoded to bytes; bytes already received (a spooled upload, a
    seeded file) pass through."""
    if not isinstance(value, str):
        if isinstance(value, (dict, list, bool, int, float)):
            raise _type_error(spec, value)
        return value
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise _type_error(spec, value[:40]) from None


def comparable(spec: FieldSpec, value: Any) -> Any:
    """The key a unique index compares on (case-insensitive text unless the field says otherwise)."""
    if isinstance(value, str) and not spec.case_sensitive:
        return value.lower()
    return value
