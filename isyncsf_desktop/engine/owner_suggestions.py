"""Owner mappings to offer the user: every source user and queue with the target owner it would get.

The same rule as the runner (:mod:`.users`): a user by username, then email, then federation id; a queue by
DeveloperName. What the runner does not do on its own is a *suggestion*: a source queue whose DeveloperName
the target lacks gets the most similar target queue (:func:`~.users.similar_queue`). Rows say which rule
matched them, for the Mappings page of the template editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .template import owner_key
from .users import (SOURCE_USER_SOQL, TARGET_USER_SOQL, OwnerOrg, match_users, read_queues, similar_queue,
                    user_soql)

AUTOMATIC = "automatic"
SUGGESTED = "suggested"
NO_MATCH = "no match"


@dataclass(frozen=True)
class OrgOwners:
    """One org's users (rows as :data:`~.users.SOURCE_USER_SOQL` / ``TARGET_USER_SOQL`` read them) and queues
    (:func:`~.users.read_queues`: with ``Objects``)."""

    alias: str
    users: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        """Every owner name of the org: usernames, then queue DeveloperNames."""
        return sorted(str(u["Username"]) for u in self.users if u.get("Username")) + \
            sorted(str(q["DeveloperName"]) for q in self.queues)

    def find(self, name: str) -> dict[str, Any] | None:
        """The user (by username, any case) or queue (by DeveloperName) called ``name``."""
        wanted = owner_key(name)
        for user in self.users:
            if owner_key(str(user.get("Username") or "")) == wanted:
                return user
        return next((q for q in self.queues if str(q["DeveloperName"]) == wanted), None)

    def queue(self, name: str) -> dict[str, Any] | None:
        return next((q for q in self.queues if str(q["DeveloperName"]) == name), None)


def read_owners(org: OwnerOrg, alias: str, *, target: bool) -> OrgOwners:
    """Read ``org``'s users and queues (the target's users with IsActive)."""
    users = org.query(user_soql(org, TARGET_USER_SOQL if target else SOURCE_USER_SOQL))
    return OrgOwners(alias, [dict(u) for u in users], read_queues(org))


@dataclass(frozen=True)
class OwnerSuggestion:
    """A source owner and the target owner the rule gives it (None: no match), with ``how`` (automatic,
    suggested, no match) and ``detail`` (which rule, or why nothing matched)."""

    source: str
    queue: bool
    target: str | None
    how: str
    detail: str


def _user_rule(user: dict[str, Any], match: dict[str, Any]) -> str:
    if str(user.get("Username") or "").lower() == str(match.get("Username") or "").lower():
        return "same username"
    if user.get("Email") and str(user["Email"]).lower() == str(match.get("Email") or "").lower():
        return f"same email ({user['Email']})"
    return "same federation id"


def suggest_owners(source: OrgOwners, target: OrgOwners) -> list[OwnerSuggestion]:
    """Every source user, then every source queue, with the target owner it maps to (see the module)."""
    out: list[OwnerSuggestion] = []
    matches = match_users(source.users, target.users)
    for user in sorted(source.users, key=lambda u: str(u.get("Username") or "").lower()):
        name = str(user.get("Username") or user["Id"])
        match = matches.get(user["Id"])
        if match is None:
            out.append(OwnerSuggestion(name, False, None, NO_MATCH, "no such user in the target (username, "
                                       "email, federation id)"))
        else:
            out.append(OwnerSuggestion(name, False, str(match["Username"]), AUTOMATIC, _user_rule(user, match)))
    for queue in sorted(source.queues, key=lambda q: str(q["DeveloperName"])):
        name = str(queue["DeveloperName"])
        same = target.queue(name)
        if same is not None:
            out.append(OwnerSuggestion(name, True, name, AUTOMATIC, "same DeveloperName"))
            continue
        guess = similar_queue(name, str(queue.get("Name") or name), target.queues)
        if guess is not None:
            out.append(OwnerSuggestion(name, True, str(guess["DeveloperName"]), SUGGESTED,
                                       f"most similar target queue ({guess.get('Name') or guess['DeveloperName']}); "
                                       f"the target has no {name}"))
        else:
            out.append(OwnerSuggestion(name, True, None, NO_MATCH, "no queue like it in the target"))
    return out


def queue_gap(source: OrgOwners | None, target: OrgOwners | None, source_name: str, target_name: str) -> list[str]:
    """Objects the source queue ``source_name`` may own that the target queue ``target_name`` does not accept
    (empty when either is not a queue or not read)."""
    if source is None or target is None:
        return []
    from_queue, to_queue = source.queue(source_name), target.queue(target_name)
    if from_queue is None or to_queue is None:
        return []
    return [obj for obj in from_queue.get("Objects", []) if obj not in to_queue.get("Objects", [])]
