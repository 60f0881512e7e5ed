"""Who owns a record on the target: how a source user or queue maps to a target user or queue.

Automatic matching: a user by the same username, else an active user with the same email, else an
active user with the same federation id (FederationIdentifier); a queue by the same DeveloperName. The
template's ``mappings.owners`` overrides it: its ``map`` wins over the automatic match, its ``default``
owns what matches nothing; without a default that is the running user. A mapping that names an owner
the target lacks fails the records that need it (not the run), and so does a queue that must own a
record of an object the target queue does not accept (its QueueSobject rows do not list it).

One rule for the runner (:class:`OwnerMap`, per run) and the pre-flight check (which reports what will
not map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Protocol

from .template import OwnerMappings, is_username, owner_key

SOURCE_USER_SOQL = "SELECT Id, Username, Email, Name FROM User"
TARGET_USER_SOQL = "SELECT Id, Username, Email, IsActive FROM User"
QUEUE_SOQL = "SELECT Id, DeveloperName, Name FROM Group WHERE Type = 'Queue'"
QUEUE_OBJECTS_SOQL = "SELECT QueueId, SobjectType FROM QueueSobject"

AUTOMATIC = "automatic"
MAPPED = "mapped"
DEFAULT = "default owner"
RUNNING_USER = "running user"


class OwnerOrg(Protocol):
    """What reading an org's users and queues needs (an :class:`~.orgapi.OrgApi` has it)."""

    def describe(self, object_name: str) -> dict[str, Any]: ...
    def object_names(self) -> set[str]: ...
    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]: ...


def match_users(source_users: list[dict[str, Any]],
                target_users: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Source user id -> the matching target user row, or None when none matches: the same username,
    else an active user with the same email, else an active user with the same federation id."""
    by_username = {str(u["Username"]).lower(): u for u in target_users if u.get("Username")}
    by_email: dict[str, dict[str, Any]] = {}
    by_federation: dict[str, dict[str, Any]] = {}
    for user in target_users:
        if user.get("Email") and user.get("IsActive", True):
            by_email.setdefault(str(user["Email"]).lower(), user)
        if user.get("FederationIdentifier") and user.get("IsActive", True):
            by_federation.setdefault(str(user["FederationIdentifier"]), user)
    return {user["Id"]: by_username.get(str(user.get("Username") or "").lower())
            or by_email.get(str(user.get("Email") or "").lower())
            or (by_federation.get(str(user["FederationIdentifier"])) if user.get("FederationIdentifier") else None)
            for user in source_users}


def user_soql(org: OwnerOrg, base: str) -> str:
    """``base`` (a SELECT ... FROM User) with FederationIdentifier when the org's User has it."""
    try:
        names = {f["name"] for f in org.describe("User").get("fields", [])}
    except Exception:  # describe is a convenience here: the query without it still maps users
        return base
    return base.replace(" FROM User", ", FederationIdentifier FROM User") if "FederationIdentifier" in names \
        else base


def read_queues(org: OwnerOrg) -> list[dict[str, Any]]:
    """The org's queues (Id, DeveloperName, Name) with ``Objects``: the objects each may own."""
    names = {n.lower() for n in org.object_names()}
    if "group" not in names:
        return []
    queues = [dict(q) for q in org.query(QUEUE_SOQL)]
    objects: dict[str, set[str]] = {}
    if "queuesobject" in names:
        for row in org.query(QUEUE_OBJECTS_SOQL):
            objects.setdefault(row["QueueId"], set()).add(row["SobjectType"])
    for queue in queues:
        queue["Objects"] = sorted(objects.get(queue["Id"], ()))
    return queues


def similar_queue(name: str, label: str, queues: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The target queue most like a source queue by DeveloperName and Name, when one is close enough."""
    def score(queue: dict[str, Any]) -> float:
        return max(SequenceMatcher(None, name.lower(), str(queue.get("DeveloperName", "")).lower()).ratio(),
                   SequenceMatcher(None, label.lower(), str(queue.get("Name", "")).lower()).ratio(),
                   0.9 if str(queue.get("DeveloperName", "")).lower().startswith(name.lower()[:6]) else 0.0)
    best = max(queues, key=score, default=None)
    return best if best is not None and score(best) >= 0.6 else None


@dataclass
class OwnerChoice:
    """Where the records of one source owner go, and why (``how``); ``problem`` fails those records."""

    source_id: str
    source_name: str
    source_queue: bool
    target_id: str | None
    target_name: str | None
    how: str
    problem: str | None = None
    target_objects: frozenset[str] | None = None   # objects a target queue may own (None: a user)

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source_name, "source_id": self.source_id, "queue": self.source_queue,
                "target": self.target_name, "target_id": self.target_id, "how": self.how,
                **({"problem": self.problem} if self.problem else {})}


class OwnerProblem(Exception):
    """A record cannot get its owner on the target (the message says why)."""


@dataclass
class OwnerMap:
    """Source user or queue id -> :class:`OwnerChoice`, for one run."""

    choices: dict[str, OwnerChoice] = field(default_factory=dict)

    def target_for(self, source_id: str, object_name: str, field_name: str, *, takes_queues: bool) -> str | None:
        """The target owner id for a record of ``object_name`` whose ``field_name`` names ``source_id``;
        None when the field is left out (an owner neither org knows); raises :class:`OwnerProblem`."""
        choice = self.choices.get(source_id)
        if choice is None:
            return None
        if choice.problem:
            raise OwnerProblem(choice.problem)
        if choice.target_objects is not None:
            what = f"{choice.source_name} {'maps' if choice.source_queue else 'is mapped'} to the queue " \
                   f"{choice.target_name}"
            if not takes_queues:
                raise OwnerProblem(f"{object_name}.{field_name} takes users only, and {what}")
            if object_name not in choice.target_objects:
                accepted = ", ".join(sorted(choice.target_objects)) or "no object"
                raise OwnerProblem(f"{what}, which does not accept {object_name} records in the target org "
                                   f"(it accepts {accepted}); add {object_name} to the queue's supported objects, "
                                   "or map the owner to another queue or user")
        return choice.target_id

    def used(self) -> list[dict[str, Any]]:
        """Every choice, for the journal: which mappings the run used."""
        return [c.as_json() for c in sorted(self.choices.values(), key=lambda c: (c.source_queue, c.source_name))]


def resolve_owners(source_users: list[dict[str, Any]], source_queues: list[dict[str, Any]],
                   target_users: list[dict[str, Any]], target_queues: list[dict[str, Any]],
                   mappings: OwnerMappings, running_user: str | None) -> OwnerMap:
    """Apply the rule of this module to two orgs' users and queues (rows as :data:`SOURCE_USER_SOQL`,
    :data:`TARGET_USER_SOQL` and :func:`read_queues` read them)."""
    users = {str(u["Username"]).lower(): u for u in target_users if u.get("Username")}
    queues = {str(q["DeveloperName"]): q for q in target_queues}
    matches = match_users(source_users, target_users)

    def named(name: str) -> tuple[str, str, frozenset[str] | None] | None:
        if is_username(name):
            user = users.get(owner_key(name))
            return (user["Id"], str(user["Username"]), None) if user else None
        queue = queues.get(name)
        return (queue["Id"], name, frozenset(queue.get("Objects", ()))) if queue else None

    default = named(mappings.default) if mappings.default else None
    out = OwnerMap()

    def choose(source_id: str, source_name: str, queue: bool, automatic: tuple[str, str, Any] | None) -> None:
        explicit = mappings.target_of(source_name)
        if explicit is not None:
            found = named(explicit)
            if found is None:
                out.choices[source_id] = OwnerChoice(
                    source_id, source_name, queue, None, explicit, MAPPED,
                    f"the owner mapping {source_name} -> {explicit} names "
                    f"{'a user' if is_username(explicit) else 'a queue'} that does not exist in the target org")
                return
            out.choices[source_id] = OwnerChoice(source_id, source_name, queue, found[0], found[1], MAPPED,
                                                 target_objects=found[2])
            return
        if automatic is not None:
            out.choices[source_id] = OwnerChoice(source_id, source_name, queue, automatic[0], automatic[1],
                                                 AUTOMATIC, target_objects=automatic[2])
            return
        if mappings.default:
            if default is None:
                out.choices[source_id] = OwnerChoice(
                    source_id, source_name, queue, None, mappings.default, DEFAULT,
                    f"{source_name} has no match in the target org and the default owner {mappings.default} "
                    "does not exist there")
                return
            out.choices[source_id] = OwnerChoice(source_id, source_name, queue, default[0], default[1], DEFAULT,
                                                 target_objects=default[2])
            return
        out.choices[source_id] = OwnerChoice(source_id, source_name, queue, running_user, None, RUNNING_USER)

    for user in source_users:
        match = matches[user["Id"]]
        choose(user["Id"], str(user.get("Username") or user["Id"]), False,
               (match["Id"], str(match["Username"]), None) if match else None)
    for queue in source_queues:
        name = str(queue["DeveloperName"])
        choose(queue["Id"], name, True, named(name) if name in queues else None)
    return out


def map_owners(source: OwnerOrg, target: OwnerOrg, mappings: OwnerMappings, running_user: str | None) -> OwnerMap:
    """Read both orgs' users and queues and resolve every source owner (:func:`resolve_owners`)."""
    return resolve_owners(source.query(user_soql(source, SOURCE_USER_SOQL)), read_queues(source),
                          target.query(user_soql(target, TARGET_USER_SOQL)), read_queues(target),
                          mappings, running_user)
