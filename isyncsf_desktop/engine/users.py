"""How a source user maps to a target user: same username, else an active user with the same email.

One rule for the runner (which falls back to the running user) and the pre-flight check (which
reports the users that will not map).
"""

from __future__ import annotations

from typing import Any

SOURCE_USER_SOQL = "SELECT Id, Username, Email, Name FROM User"
TARGET_USER_SOQL = "SELECT Id, Username, Email, IsActive FROM User"


def match_users(source_users: list[dict[str, Any]],
                target_users: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Source user id -> the matching target user row, or None when none matches."""
    by_username = {str(u["Username"]).lower(): u for u in target_users if u.get("Username")}
    by_email: dict[str, dict[str, Any]] = {}
    for user in target_users:
        if user.get("Email") and user.get("IsActive", True):
            by_email.setdefault(str(user["Email"]).lower(), user)
    return {user["Id"]: by_username.get(str(user.get("Username") or "").lower())
            or by_email.get(str(user.get("Email") or "").lower()) for user in source_users}
