"""The object checks: objects missing in either org or that the target user cannot create or update, and
what records point to that the target must have: record types (by DeveloperName, active) and users.
"""

from __future__ import annotations

from ...salesforce.client import OrgApiError
from ..recordtypes import DEFAULT, MAPPED, resolve_record_types, similar_record_type
from ..template import OwnerMappings, is_username
from ..users import SOURCE_USER_SOQL, TARGET_USER_SOQL, match_users, read_queues, similar_queue
from .context import CheckContext, ScopeLine, ScopeObject, counted_severity, plural, quote
from .report import (BLOCKING, MISSING_OBJECT, OBJECT_ACCESS, PERSON_ACCOUNTS, QUEUE_MAPPING, RECORD_TYPE,
                     RECORDS_WILL_FAIL, USER_MAPPING, WARNING)

_MAX_USERS_COUNTED = 25


class ObjectChecks(CheckContext):
    """The checks of the objects themselves, their record types and their users."""

    def check_object(self, line: ScopeLine, source_names: dict[str, str],
                     target_names: dict[str, str]) -> ScopeObject | None:
        name = source_names.get(line.object.lower())
        if name is None:
            self.add(MISSING_OBJECT, line.object, None, None, BLOCKING,
                     f"{line.object} does not exist in the source org (or the source user cannot see it)",
                     f"remove {line.object} from the template, or give the source org's user access to it",
                     side="source")
            return None
        if name.lower() not in target_names:
            in_scope = self.count(line, name)
            self.add(MISSING_OBJECT, name, None, None, BLOCKING,
                     f"{name} does not exist in the target org (or the target user cannot see it); "
                     f"{plural(in_scope)} in scope cannot be synced",
                     f"deploy {name} to the target org or give its user access to it, or remove {name} from the "
                     "template", side="target", records_in_scope=in_scope, affected=in_scope)
            return None
        src_desc = self.source.describe(name)
        tgt_desc = self.target.describe(target_names[name.lower()])
        obj = ScopeObject(line, name, {f["name"]: f for f in src_desc.get("fields", [])},
                          {f["name"]: f for f in tgt_desc.get("fields", [])})
        can_create, can_update = bool(tgt_desc.get("createable", True)), bool(tgt_desc.get("updateable", True))
        wants = (line.insert and not can_create) or (line.update and not can_update)
        if wants:
            in_scope = self.count(line, name)
            grant = f"give the target org's user create and edit permission on {name}"
            if not can_create and not can_update:
                self.add(OBJECT_ACCESS, name, None, None, BLOCKING,
                         f"the target org's user can neither create nor update {name} records", grant,
                         createable=False, updateable=False, records_in_scope=in_scope, affected=in_scope)
            elif line.insert and not can_create:
                self.add(OBJECT_ACCESS, name, None, None, counted_severity(RECORDS_WILL_FAIL, in_scope),
                         f"the target org's user cannot create {name} records: every record not already in the "
                         f"target fails (up to {plural(in_scope)})",
                         f"{grant}, or turn off \"Insert new records\" for {name}",
                         createable=False, updateable=can_update, records_in_scope=in_scope, affected=in_scope)
            if line.update and not can_update and can_create:
                self.add(OBJECT_ACCESS, name, None, None, counted_severity(RECORDS_WILL_FAIL, in_scope),
                         f"the target org's user cannot update {name} records: every record that already exists "
                         f"in the target and changed fails (up to {plural(in_scope)})",
                         f"{grant}, or turn off \"Update existing records\" for {name}",
                         createable=can_create, updateable=False, records_in_scope=in_scope, affected=in_scope)
        return obj
    # ------------------------------------------------------------------ person accounts
    def check_person_accounts(self, objects: list[ScopeObject]) -> None:
        """Person accounts in scope need a target org with Person Accounts (its Account has IsPersonAccount)."""
        account = next((o for o in objects if o.name == "Account"), None)
        if account is None or "IsPersonAccount" not in account.source:
            return
        if "IsPersonAccount" in account.target:
            self.check_person_account_fields(account)
            return
        people = self.count(account.line, account.name, "IsPersonAccount = true")
        self.add(PERSON_ACCOUNTS, account.name, "IsPersonAccount", None, counted_severity(BLOCKING, people),
                 f"{plural(people, 'person account')} in scope cannot be synced: the target org does not have "
                 "Person Accounts (business accounts are not affected)",
                 "enable Person Accounts in the target org (Setup, Account Settings; it cannot be undone), or "
                 "leave person accounts out with the Account filter IsPersonAccount = false",
                 side="target", records_in_scope=self.count(account.line, account.name), affected=people)

    def check_person_account_fields(self, account: ScopeObject) -> None:
        """A person account is created from a person record type and a last name (the org composes its Name):
        an Account line without RecordTypeId or LastName creates none of the person accounts in scope."""
        if account.line.fields is None:     # every field: the person fields are in
            return
        in_line = {f.lower() for f in account.line.fields}
        missing = [f for f in ("RecordTypeId", "LastName") if f.lower() not in in_line]
        if not missing:
            return
        people = self.count(account.line, account.name, "IsPersonAccount = true")
        if not people:
            return
        self.add(PERSON_ACCOUNTS, account.name, missing[-1], None, RECORDS_WILL_FAIL,
                 f"the Account line has no {' or '.join(missing)}: the {plural(people, 'person account')} in scope "
                 "cannot be created on the target (a person account is made from a person record type and a last "
                 "name; the org composes its Name); those the target already has are still updated",
                 "add RecordTypeId, FirstName and LastName to the Account line, or leave person accounts out with "
                 "the Account filter IsPersonAccount = false",
                 records_in_scope=self.count(account.line, account.name), affected=people)

    # ------------------------------------------------------------------ record types
    def check_record_types(self, objects: list[ScopeObject]) -> None:
        """Source record types used in scope that will not land on an active target record type, by the runner's
        rule (engine/recordtypes.py): the template's mapping, else the same DeveloperName, else the object's
        default. A record type missing on the target gets a suggested mapping (the most similar one) in its data."""
        with_rt = [o for o in objects if any(f.lower() == "recordtypeid" for f in o.fields)]
        if not with_rt:
            return
        names = ", ".join(quote(o.name) for o in with_rt)
        soql = f"SELECT Id, DeveloperName, Name, SobjectType, IsActive FROM RecordType WHERE SobjectType IN ({names})"
        try:
            source_rts = self.source.query(soql)
            target_rts = self.target.query(soql)
        except OrgApiError as exc:
            self.failed(with_rt[0].name, "compare record types", exc,
                        "check that both users can read RecordType, then check again")
            return
        by_id = {r["Id"]: r for r in target_rts}
        by_name = {o.name.lower(): o for o in with_rt}
        choices = resolve_record_types(source_rts, target_rts, self.record_types)
        for rt in source_rts:
            obj = by_name.get(str(rt.get("SobjectType")).lower())
            if obj is None:
                continue
            choice = choices[rt["Id"]]
            match = by_id.get(choice.target_id) if choice.target_id else None
            if match is not None and match.get("IsActive", True) and choice.how != DEFAULT:
                continue
            used = self.count(obj.line, obj.name, f"RecordTypeId = {quote(rt['Id'])}")
            if used == 0 and (match is None or choice.how == DEFAULT):
                continue      # no record in scope has it: nothing to map
            label = f"{obj.name}.{rt['DeveloperName']}"
            scope = self._records_of(obj.name, used)
            common = {"developer_name": rt["DeveloperName"], "source_id": rt["Id"], "affected": used}
            if match is not None and not match.get("IsActive", True):
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, counted_severity(RECORDS_WILL_FAIL, used),
                         f"record type {label} maps to {obj.name}.{match['DeveloperName']}, which is inactive in the "
                         f"target org; {plural(used)} in scope use it and will fail",
                         f"activate the record type {match['DeveloperName']} in the target org",
                         target_id=match["Id"], inactive=True, **common)
                continue
            if choice.how == MAPPED:
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, counted_severity(RECORDS_WILL_FAIL, used),
                         f"{choice.problem}; the records that use {rt['DeveloperName']} fail ({scope})",
                         f"create the record type {choice.target_name} on {obj.name} in the target org, or change "
                         "the mapping", mapped_to=choice.target_name, **common)
                continue
            if choice.how == DEFAULT and match is None:
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, counted_severity(RECORDS_WILL_FAIL, used),
                         f"{choice.problem}; the records that use {rt['DeveloperName']} fail ({scope})",
                         f"create the record type {choice.target_name} on {obj.name} in the target org, or change "
                         "the default", mapped_to=choice.target_name, **common)
                continue
            candidates = [r for r in target_rts if str(r.get("SobjectType")).lower() == obj.name.lower()
                          and r.get("IsActive", True)]
            guess = similar_record_type(str(rt["DeveloperName"]), str(rt.get("Name") or ""), candidates)
            suggestion = {"object": obj.name, "source": rt["DeveloperName"], "target": guess["DeveloperName"],
                          "target_id": guess["Id"]} if guess else None
            fix = (f"map '{rt['DeveloperName']}' to '{guess['DeveloperName']}' in the template's record type "
                   f"mappings for {obj.name}, or create the record type {rt['DeveloperName']} on {obj.name} in the "
                   "target org") if guess else \
                f"create the record type {rt['DeveloperName']} on {obj.name} in the target org, or map it to a " \
                "target record type in the template"
            if choice.how == DEFAULT:
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, WARNING,
                         f"record type missing on the target: {label} ({scope}); they get the default record type "
                         f"{choice.target_name}", fix, suggested_mapping=suggestion, **common)
                continue
            self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, counted_severity(RECORDS_WILL_FAIL, used),
                     f"record type missing on the target: {label} ({scope}); they will fail", fix,
                     suggested_mapping=suggestion, **common)

    # ------------------------------------------------------------------ users
    def check_users(self, objects: list[ScopeObject]) -> None:
        """Source users that will not map, by the runner's rule: username, then email of an active user."""
        user_fields: list[tuple[ScopeObject, str]] = []
        for obj in objects:
            for name in obj.fields:
                targets = list(obj.source[name].get("referenceTo") or [])
                if obj.source[name].get("type") == "reference" and "User" in targets \
                        and set(targets) <= {"User", "Group"}:
                    user_fields.append((obj, name))
        if not user_fields:
            return
        try:
            source_users = self.source.query(SOURCE_USER_SOQL)
            target_users = self.target.query(TARGET_USER_SOQL)
        except OrgApiError as exc:
            self.failed(user_fields[0][0].name, "compare users", exc,
                        "check that both users can read User records, then check again")
            return
        matches = match_users(source_users, target_users)
        counted = 0
        for user in source_users:
            match = matches[user["Id"]]
            if match is not None and match.get("IsActive", True):
                continue
            affected: int | None = None
            per_field: dict[str, int | None] = {}
            if counted < _MAX_USERS_COUNTED:
                counted += 1
                for obj, name in user_fields:
                    per_field[f"{obj.name}.{name}"] = self.count(obj.line, obj.name, f"{name} = {quote(user['Id'])}")
                known = [v for v in per_field.values() if v is not None]
                affected = sum(known) if len(known) == len(per_field) else None
                if affected == 0:
                    continue      # no record in scope refers to this user
            label = str(user.get("Username") or user["Id"])
            email = str(user.get("Email") or "")
            who = f"user {label}" + (f" ({email})" if email and email.lower() != label.lower() else "")
            spread = ", ".join(f"{where} {n}" for where, n in per_field.items() if n)
            scope = f"{plural(affected)} in scope" + (f" ({spread})" if spread and len(per_field) > 1 else "")
            field_name = user_fields[0][1] if len(user_fields) == 1 else None
            obj_name = user_fields[0][0].name if len({o.name for o, _ in user_fields}) == 1 else "User"
            if match is None:
                self.add(USER_MAPPING, obj_name, field_name, label, WARNING,
                         f"{who} has no user in the target org with the same username or an active one with the "
                         f"same email; {scope} go to the running user instead",
                         f"create or activate a user with the username or email {email or label} in the target "
                         "org", source_id=user["Id"], affected=affected, by_field=per_field)
            else:
                self.add(USER_MAPPING, obj_name, field_name, label, counted_severity(RECORDS_WILL_FAIL, affected),
                         f"{who} maps to the inactive target user {match.get('Username')}; {scope} that name "
                         "them will fail",
                         f"activate {match.get('Username')} in the target org", source_id=user["Id"],
                         target_id=match["Id"], affected=affected, by_field=per_field, inactive=True)

    # ------------------------------------------------------------------ queues
    def _records_of(self, obj: str, count: int | None) -> str:
        """``15 Cases``, ``1 Project``: the object's label (the describe is cached), else its name."""
        try:
            desc = self.source.describe(obj)
        except OrgApiError:
            desc = {}
        noun = desc.get("label" if count == 1 else "labelPlural") or f"{obj} record" + ("" if count == 1 else "s")
        return f"{'an unknown number of' if count is None else count} {noun}"

    def check_queues(self, objects: list[ScopeObject], owners: OwnerMappings) -> None:
        """Source queues that own records in scope and will not land on a target queue that takes them, by
        the runner's rule (engine/users.py): the template's owner map, else the same DeveloperName. A queue
        missing on the target gets a suggested mapping (the most similar target queue) in its data."""
        owned = [o for o in objects if "OwnerId" in o.fields and "Group" in (o.source["OwnerId"].get("referenceTo") or [])]
        if not owned:
            return
        try:
            source_queues, target_queues = read_queues(self.source), read_queues(self.target)
        except OrgApiError as exc:
            self.failed(owned[0].name, "compare queues", exc, "check that both users can read Group and "
                        "QueueSobject, then check again")
            return
        by_name = {str(q["DeveloperName"]): q for q in target_queues}
        fallback = f"the default owner {owners.default}" if owners.default else "the running user"
        for queue in source_queues:
            name = str(queue["DeveloperName"])
            counts = {o.name: self.count(o.line, o.name, f"OwnerId = {quote(queue['Id'])}") for o in owned}
            counts = {obj: n for obj, n in counts.items() if n != 0}
            if not counts:
                continue      # the queue owns no record in scope
            scope = ", ".join(self._records_of(obj, n) for obj, n in counts.items())
            known = [n for n in counts.values() if n is not None]
            affected = sum(known) if len(known) == len(counts) else None
            obj_name = next(iter(counts)) if len(counts) == 1 else "Group"
            mapped = owners.target_of(name)
            if mapped is not None and is_username(mapped):
                continue      # mapped to a user: the run fails its records if the target lacks that user
            target = by_name.get(mapped or name)
            if target is None and mapped is not None:
                self.add(QUEUE_MAPPING, obj_name, "OwnerId", name, counted_severity(RECORDS_WILL_FAIL, affected),
                         f"the owner mapping {name} -> {mapped} names a queue that does not exist in the target "
                         f"org; the records the queue owns fail ({scope})",
                         f"create the queue {mapped} in the target org, or change the mapping",
                         source_id=queue["Id"], mapped_to=mapped, affected=affected, by_object=counts)
                continue
            if target is None:
                guess = similar_queue(name, str(queue.get("Name") or name), target_queues)
                fix = (f"map '{name}' to '{guess['DeveloperName']}' in the template's owner mappings, or create the "
                       f"queue {name} in the target org") if guess else \
                    f"create the queue {name} in the target org, or map it to a target queue or user"
                suggestion = {"source": name, "target": guess["DeveloperName"], "target_id": guess["Id"]} \
                    if guess else None
                self.add(QUEUE_MAPPING, obj_name, "OwnerId", name, WARNING,
                         f"owner is a queue that does not exist on the target: {name} ({scope}); they go to "
                         f"{fallback}", fix, source_id=queue["Id"], affected=affected, by_object=counts,
                         suggested_mapping=suggestion)
                continue
            refused = {obj: n for obj, n in counts.items() if obj not in target.get("Objects", [])}
            if refused:
                known = [n for n in refused.values() if n is not None]
                self.add(QUEUE_MAPPING, next(iter(refused)) if len(refused) == 1 else "Group", "OwnerId", name,
                         counted_severity(RECORDS_WILL_FAIL, sum(known) if len(known) == len(refused) else None),
                         f"the target queue {target['DeveloperName']} does not accept "
                         f"{', '.join(refused)} records; the records {name} owns there fail",
                         f"add {', '.join(refused)} to the supported objects of the queue {target['DeveloperName']} "
                         "in the target org, or map the queue to another one", source_id=queue["Id"],
                         target_id=target["Id"], affected=affected, by_object=refused)
