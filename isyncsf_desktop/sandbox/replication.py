"""Replication and search resources of the sandbox org.

* ``GET sobjects/X/updated?start=&end=``: ids of records created or changed in the window;
  ``GET sobjects/X/deleted?start=&end=``: records deleted in it (``deletedRecords`` with dates).
* ``GET search?q=FIND {...} [IN ALL|NAME|EMAIL|PHONE FIELDS] [RETURNING Obj(fields [WHERE ...]
  [ORDER BY ...] [LIMIT n]), ...] [LIMIT n]``: SOSL over the text fields of the org's searchable objects.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .routing import Call, router
from .errors import ApiError
from .schema import ObjectSpec
from .soql import SoqlError, _instant, run_query

REPLICATION_DAYS = 30        # how far back a real org keeps replication data
SEARCH_LIMIT = 2000
_TEXT_TYPES = ("string", "email", "phone", "url", "textarea", "picklist", "combobox")
_SEARCH_GROUPS = {"ALL": None, "NAME": ("name",), "EMAIL": ("email",), "PHONE": ("phone",)}


# ====================================================================== updated / deleted
def _window(call: Call) -> tuple[datetime, datetime]:
    raw = {k: (call.request.args.get(k) or "").replace(" ", "+") for k in ("start", "end")}
    parsed = {k: _instant(v) if v else None for k, v in raw.items()}
    if parsed["start"] is None or parsed["end"] is None:
        raise ApiError(400, "INVALID_REPLICATION_DATE" if all(raw.values()) else "MISSING_ARGUMENT",
                       "start and end must both be dateTimes, e.g. 2024-01-01T00:00:00+00:00")
    start, end = parsed["start"], parsed["end"]
    if start > end:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "start date must be before end date")
    return start, end


def _object(call: Call, name: str) -> ObjectSpec:
    spec = call.org.object_spec(name)
    if spec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if not spec.queryable:
        raise ApiError(400, "INVALID_TYPE", f"{spec.name} is not replicateable")
    return spec


def _covered(end: datetime) -> str:
    """The end of the window, to the minute, in the API's datetime form."""
    now = datetime.now(timezone.utc)
    return min(end, now).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@router.route("/sobjects/<name>/updated", ["GET"])
def updated(call: Call, name: str) -> Any:
    spec = _object(call, name)
    start, end = _window(call)
    found = []
    for row in call.org.rows(spec.name):
        stamp = _instant(str(row.get("SystemModstamp") or row.get("LastModifiedDate") or ""))
        if not row.get("IsDeleted") and stamp is not None and start <= stamp < end:
            found.append((stamp, row["Id"]))
    return {"ids": [record_id for _, record_id in sorted(found)], "latestDateCovered": _covered(end)}


@router.route("/sobjects/<name>/deleted", ["GET"])
def deleted(call: Call, name: str) -> Any:
    spec = _object(call, name)
    start, end = _window(call)
    found = []
    for row in call.org.rows(spec.name):
        stamp = _instant(str(row.get("SystemModstamp") or ""))
        if row.get("IsDeleted") and stamp is not None and start <= stamp < end:
            found.append((stamp, row["Id"], str(row.get("SystemModstamp"))))
    earliest = (datetime.now(timezone.utc) - timedelta(days=REPLICATION_DAYS)).replace(second=0, microsecond=0)
    return {"deletedRecords": [{"id": record_id, "deletedDate": when} for _, record_id, when in sorted(found)],
            "earliestDateAvailable": earliest.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "latestDateCovered": _covered(end)}


# ====================================================================== SOSL
_FIND = re.compile(r"^\s*FIND\s+\{((?:[^}\\]|\\.)*)\}\s*(.*)$", re.IGNORECASE | re.DOTALL)
_IN = re.compile(r"^IN\s+(ALL|NAME|EMAIL|PHONE)\s+FIELDS\s*(.*)$", re.IGNORECASE | re.DOTALL)
_RETURNING = re.compile(r"^RETURNING\s+(.*)$", re.IGNORECASE | re.DOTALL)
_TAIL_LIMIT = re.compile(r"\s+LIMIT\s+(\d+)\s*$", re.IGNORECASE)


def _malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_SEARCH", message)


def _split_returning(text: str) -> list[tuple[str, str]]:
    """``Account(Id, Name WHERE ...), Contact`` -> [("Account", "Id, Name WHERE ..."), ("Contact", "")]."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        match = re.match(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*", text[i:])
        if match is None:
            raise _malformed(f"unexpected text in RETURNING: {text[i:]!r}")
        name, i = match.group(1), i + match.end()
        inner = ""
        if i < len(text) and text[i] == "(":
            depth, j, quoted = 0, i, False
            while j < len(text):
                char = text[j]
                if char == "'" and text[j - 1] != "\\":
                    quoted = not quoted
                elif not quoted and char == "(":
                    depth += 1
                elif not quoted and char == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if depth != 0:
                raise _malformed("unbalanced parentheses in RETURNING")
            inner, i = text[i + 1:j], j + 1
        out.append((name, inner.strip()))
        rest = text[i:].lstrip()
        if rest.startswith(","):
            i = len(text) - len(rest) + 1
        elif rest:
            raise _malformed(f"unexpected text in RETURNING: {rest!r}")
        else:
            break
    return out


def _matcher(term: str) -> Any:
    """The search text as a row test: words are ANDed, ``OR`` between words ORs, ``*`` is a wildcard."""
    groups: list[list[re.Pattern[str]]] = [[]]
    tokens = re.findall(r'"[^"]*"|\S+', term.replace("\\", ""))
    for token in tokens:
        if token.upper() == "OR":
            groups.append([])
            continue
        if token.upper() == "AND":
            continue
        word = token.strip('"')
        if len(word.replace("*", "").replace("?", "")) < 2:
            raise _malformed("search term must be longer than one character")
        pattern = re.escape(word).replace(r"\*", r"\w*").replace(r"\?", r"\w")
        groups[-1].append(re.compile(rf"(?<!\w){pattern}(?!\w)", re.IGNORECASE))
    groups = [g for g in groups if g]
    if not groups:
        raise _malformed("search term must be longer than one character")

    def test(texts: list[str]) -> bool:
        blob = "\n".join(texts)
        return any(all(p.search(blob) for p in group) for group in groups)
    return test


def _searchable_fields(spec: ObjectSpec, scope: str) -> list[str]:
    names = []
    for fspec in spec.fields.values():
        if fspec.type not in _TEXT_TYPES:
            continue
        if scope == "NAME" and not fspec.name_field and fspec.name != "Name":
            continue
        if scope in ("EMAIL", "PHONE") and fspec.type != scope.lower():
            continue
        names.append(fspec.name)
    return names


@router.route("/search", ["GET"])
def search(call: Call) -> Any:
    text = call.request.args.get("q") or ""
    found = _FIND.match(text)
    if found is None:
        raise _malformed("a search must start with FIND {term}")
    term, rest = found.group(1), found.group(2).strip()
    scope = "ALL"
    in_clause = _IN.match(rest)
    if in_clause:
        scope, rest = in_clause.group(1).upper(), in_clause.group(2).strip()
    overall = None
    limit_match = _TAIL_LIMIT.search(" " + rest)
    if limit_match and not rest.rstrip().endswith(")"):
        overall = int(limit_match.group(1))
        rest = (" " + rest)[:limit_match.start()].strip()
    returning: list[tuple[str, str]]
    if rest:
        ret = _RETURNING.match(rest)
        if ret is None:
            raise _malformed(f"unexpected text after the search term: {rest!r}")
        returning = _split_returning(ret.group(1))
    else:
        returning = [(spec.name, "") for spec in call.org.schema.objects.values() if spec.queryable]
    test = _matcher(term)
    records: list[dict[str, Any]] = []
    for name, inner in returning:
        spec = call.org.object_spec(name)
        if spec is None or not spec.queryable:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        parts = re.split(r"\s+(?=(?:WHERE|ORDER\s+BY|LIMIT|OFFSET)\b)", inner, maxsplit=1, flags=re.IGNORECASE)
        fields = parts[0].strip() if parts and parts[0].strip() else "Id"
        clauses = parts[1] if len(parts) > 1 else ""
        searchable = _searchable_fields(spec, scope)
        ids = [row["Id"] for row in call.org.rows(spec.name) if not row.get("IsDeleted")
               and test([str(row.get(f)) for f in searchable if row.get(f) is not None])][:SEARCH_LIMIT]
        if not ids:
            continue
        where_match = re.match(r"WHERE\s+(.*?)(\s+(?:ORDER\s+BY|LIMIT|OFFSET)\b.*)?$", clauses,
                               re.IGNORECASE | re.DOTALL)
        id_list = ",".join(f"'{i}'" for i in ids)
        if where_match:
            condition = f"WHERE ({where_match.group(1)}) AND Id IN ({id_list})"
            tail = where_match.group(2) or ""
        else:
            condition, tail = f"WHERE Id IN ({id_list})", (" " + clauses if clauses else "")
        soql = f"SELECT {fields} FROM {spec.name} {condition}{tail}"
        try:
            with call.org.lock:
                result = run_query(soql, call.org, api_version=call.version)
        except SoqlError as exc:
            raise ApiError(400, exc.error_code, exc.message) from None
        records.extend(result.records)
    if overall is not None:
        records = records[:overall]
    return {"searchRecords": records}
