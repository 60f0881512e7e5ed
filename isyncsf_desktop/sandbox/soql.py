"""SOQL for the sandbox org: a lark grammar, a parsed form and an evaluator over stored rows.

:func:`parse_soql` turns query text into a :class:`SoqlQuery` (syntax only, no schema needed);
:func:`run_query` checks the query against a :class:`QuerySource`'s schema and evaluates it over
that source's rows, producing records shaped like the Salesforce REST API's query resource.

Supported grammar (keywords case-insensitive)::

    SELECT item [, item ...] FROM Object [alias]
        [WHERE condition] [ORDER BY key [, key ...]] [LIMIT n] [OFFSET n]

    item      := path | COUNT() | COUNT(path) [alias]
    path      := Name [. Name ...]             -- parent relationships, any depth
    condition := unary | unary AND unary ... | unary OR unary ...   -- mixing needs parentheses
    unary     := NOT unary | ( condition ) | path op value
               | path [NOT] IN ( value, ... ) | path [NOT] IN ( SELECT path FROM ... )
               | path LIKE 'pattern' | path INCLUDES|EXCLUDES ( 'a;b', ... )
    op        := = | != | <> | < | <= | > | >=
    value     := 'string' | number | 2024-01-31 | 2024-01-31T10:00:00Z | NULL | TRUE | FALSE
               | TODAY | LAST_N_DAYS:n | ... (date literals)
    key       := path [ASC | DESC] [NULLS FIRST | NULLS LAST]

Errors are :class:`SoqlError` with Salesforce's error codes and its
``\\n<query line>\\n<caret>\\nERROR at Row:r:Column:c\\n<message>`` message layout.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol, Union

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .ids import is_valid_id, to18
from .schema import NUMBER_TYPES, TEXT_TYPES, FieldSpec, ObjectSpec, Schema, load_schema

logger = logging.getLogger(__name__)

__all__ = [
    "BoolExpr",
    "Comparison",
    "CountItem",
    "FieldPath",
    "Literal",
    "NotExpr",
    "OrderItem",
    "QueryResult",
    "QuerySource",
    "SoqlError",
    "SoqlQuery",
    "FuncItem",
    "SubqueryItem",
    "parse_soql",
    "query_columns",
    "run_query",
]

MAX_OFFSET = 2000

# The "Name" entity: what a polymorphic relationship (Task.What, Task.Who, an Owner that may be a queue)
# exposes without TYPEOF. Its Type is the referenced object's API name; Name is the record's name field
# (CaseNumber for a Case); the other fields are the record's own, or null where its object lacks them.
NAME_ENTITY: ObjectSpec = load_schema({"objects": {"Name": {"keyPrefix": "000", "fields": {
    "Name": {"type": "string"}, "Type": {"type": "picklist", "length": 40}, "Alias": {"type": "string", "length": 8},
    "Email": {"type": "email"}, "FirstName": {"type": "string", "length": 40},
    "LastName": {"type": "string", "length": 80}, "IsActive": {"type": "boolean"}, "Phone": {"type": "phone"},
    "Title": {"type": "string", "length": 80}, "Username": {"type": "string", "length": 80},
    "NameOrAlias": {"type": "string", "length": 80}, "LastReferencedDate": {"type": "datetime"},
    "LastViewedDate": {"type": "datetime"},
    "ProfileId": {"type": "reference", "referenceTo": ["Profile"]},
    "RecordTypeId": {"type": "reference", "referenceTo": ["RecordType"]},
    "UserRoleId": {"type": "reference", "referenceTo": ["UserRole"]},
}}}}, check_references=False).objects["Name"]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` (e.g. MALFORMED_QUERY) and its message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


def _located(text: str, line: int, column: int, message: str) -> str:
    """Salesforce's layout: the offending line, a caret under the column, the position, the message."""
    lines = text.split("\n")
    line_text = lines[line - 1] if 0 < line <= len(lines) else ""
    caret = " " * max(column - 1, 0) + "^"
    return f"\n{line_text}\n{caret}\nERROR at Row:{line}:Column:{column}\n{message}"


def _error(code: str, text: str, line: int, column: int, message: str) -> SoqlError:
    return SoqlError(code, _located(text, line, column, message))


# ---------------------------------------------------------------------------------------------
# Parsed form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A field as written: ``Account.Owner.Name`` is parts ("Account", "Owner", "Name")."""

    parts: tuple[str, ...]
    line: int
    column: int

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class CountItem:
    """``COUNT()`` (field None) or ``COUNT(field) [alias]`` in the SELECT list."""

    field: FieldPath | None
    alias: str | None
    line: int
    column: int


@dataclass(frozen=True)
class Literal:
    """A value in a WHERE clause.

    ``kind`` is one of string, number, date, datetime, null, boolean, date_literal; ``value`` is
    the decoded Python value (str, int/float, date, aware datetime, None, bool, or
    ``(NAME, n | None)`` for date literals); ``raw`` is the source text (for strings: between the
    quotes, escapes intact, which LIKE needs to tell ``\\%`` from ``%``).
    """

    kind: str
    value: Any
    raw: str
    line: int
    column: int


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES.

    ``value`` is a Literal, a tuple of Literals (IN, NOT IN, INCLUDES, EXCLUDES) or a
    :class:`SoqlQuery` (semi-join / anti-join).
    """

    field: FieldPath
    op: str
    value: Union[Literal, tuple[Literal, ...], "SoqlQuery"]


@dataclass(frozen=True)
class BoolExpr:
    """``a AND b AND ...`` or ``a OR b OR ...``."""

    op: str
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class NotExpr:
    """``NOT expr``."""

    item: Expr


Expr = Union[Comparison, BoolExpr, NotExpr]


@dataclass(frozen=True)
class FuncItem:
    """A function in the SELECT list other than COUNT: an aggregate (MIN, MAX, SUM, AVG,
    COUNT_DISTINCT), ``toLabel(field)`` or ``FIELDS(ALL|STANDARD|CUSTOM)``. ``name`` is upper case."""

    name: str
    field: FieldPath
    alias: str | None
    line: int
    column: int


@dataclass(frozen=True)
class SubqueryItem:
    """A parent-to-child relationship query in the SELECT list: ``(SELECT ... FROM Contacts)``."""

    query: "SoqlQuery"
    line: int
    column: int


@dataclass(frozen=True)
class TypeofItem:
    """``TYPEOF What WHEN Account THEN Name, Phone ... [ELSE Id] END``: fields chosen by the runtime type of a
    polymorphic relationship. ``whens`` pairs an object name (as written) with its fields; ``otherwise`` is the
    ELSE list (empty when there is none)."""

    relationship: FieldPath
    whens: tuple[tuple[str, tuple[FieldPath, ...]], ...]
    otherwise: tuple[FieldPath, ...]
    line: int
    column: int


SelectItem = Union[FieldPath, CountItem, FuncItem, SubqueryItem, TypeofItem]


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key. ``nulls_first`` is already defaulted (first for ASC, last for DESC)."""

    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class SoqlQuery:
    """A parsed SOQL statement (syntax only; names are checked against a schema by run_query)."""

    object_name: str
    object_line: int
    object_column: int
    alias: str | None
    select: tuple[SelectItem, ...]
    where: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
    count: bool = False  # SELECT COUNT() FROM ...
    text: str = dc_field(default="", compare=False, repr=False)
    group_by: tuple[FieldPath, ...] = ()
    for_clause: str | None = None  # VIEW | REFERENCE | UPDATE (accepted, no effect)

    @property
    def is_aggregate(self) -> bool:
        """True for a query whose rows are AggregateResults: GROUP BY, ``COUNT(field)`` or MIN/MAX/..."""
        return bool(self.group_by) or any(
            (isinstance(item, CountItem) and item.field is not None)
            or (isinstance(item, FuncItem) and item.name in _AGGREGATES) for item in self.select)


# ---------------------------------------------------------------------------------------------
# Grammar
# ---------------------------------------------------------------------------------------------

_GRAMMAR = r"""
start: query

query: "SELECT"i select_list "FROM"i object_ref where_clause? group_clause? order_clause? limit_clause? offset_clause? for_clause?

select_list: select_item ("," select_item)*
?select_item: path
            | NAME "(" path? ")" NAME?             -> func_item
            | "(" query ")"                        -> subquery_item
            | "TYPEOF"i path when_clause+ else_clause? "END"i -> typeof_item
when_clause: "WHEN"i NAME "THEN"i path ("," path)*
else_clause: "ELSE"i path ("," path)*
group_clause: "GROUP"i "BY"i path ("," path)*
for_clause: "FOR"i (VIEW | REFERENCE | UPDATE)
object_ref: NAME NAME?
path: NAME ("." NAME)*

where_clause: "WHERE"i condition
?condition: unary
          | unary ("AND"i unary)+                  -> and_chain
          | unary ("OR"i unary)+                   -> or_chain
?unary: "NOT"i unary                               -> negation
      | "(" condition ")"
      | comparison
comparison: path COMP_OP value                     -> cmp
          | path "LIKE"i value                     -> like
          | path "IN"i "(" value_list ")"          -> in_list
          | path "NOT"i "IN"i "(" value_list ")"   -> not_in_list
          | path "IN"i "(" query ")"               -> in_query
          | path "NOT"i "IN"i "(" query ")"        -> not_in_query
          | path "INCLUDES"i "(" value_list ")"    -> includes
          | path "EXCLUDES"i "(" value_list ")"    -> excludes
value_list: value ("," value)*
value: STRING                                      -> string_lit
     | NUMBER                                      -> number_lit
     | DATE                                        -> date_lit
     | DATETIME                                    -> datetime_lit
     | NULL                                        -> null_lit
     | TRUE                                        -> true_lit
     | FALSE                                       -> false_lit
     | NAME (":" NUMBER)?                          -> date_literal

order_clause: "ORDER"i "BY"i order_item ("," order_item)*
order_item: path (ASC | DESC)? ("NULLS"i (FIRST | LAST))?
limit_clause: "LIMIT"i NUMBER
offset_clause: "OFFSET"i NUMBER

VIEW: "view"i
REFERENCE: "reference"i
UPDATE: "update"i
NULL: "null"i
TRUE: "true"i
FALSE: "false"i
ASC: "asc"i
DESC: "desc"i
FIRST: "first"i
LAST: "last"i
COMP_OP: "<=" | ">=" | "!=" | "<>" | "=" | "<" | ">"
NAME: /[a-z][a-z0-9_]*/i
STRING: /'(?:[^'\\]|\\.)*'/s
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})/i
DATE.2: /\d{4}-\d{2}-\d{2}/
NUMBER: /[+-]?(?:\d+(?:\.\d*)?|\.\d+)/

%import common.WS
%ignore WS
"""


class _NamesEverywhere:
    """A no-op post-lexer whose only job is to let NAME be lexed in every parser state.

    With lark's contextual lexer, a keyword string that is also a valid NAME is then matched as
    NAME and re-typed as the keyword only where the grammar accepts that keyword. So ``Order``
    stays an object name after FROM, while ``WHEREVER`` is one (unexpected) name rather than
    ``WHERE`` followed by ``VER``.
    """

    always_accept = ("NAME",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", postlex=_NamesEverywhere(),
               maybe_placeholders=False)

_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
            "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\", "%": "%", "_": "_"}

_FIXED_DATE_LITERALS = {
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
    "THIS_MONTH", "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER", "LAST_QUARTER",
    "NEXT_QUARTER", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR",
}
_N_DATE_LITERALS = {
    "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS", "LAST_N_MONTHS",
    "NEXT_N_MONTHS", "LAST_N_QUARTERS", "NEXT_N_QUARTERS", "LAST_N_YEARS", "NEXT_N_YEARS",
}

_UNSUPPORTED = {
    "HAVING": "HAVING", "WITH": "WITH clauses",
    "USING": "USING SCOPE", "ROLLUP": "GROUP BY ROLLUP", "CUBE": "GROUP BY CUBE",
}
_AGGREGATES = {"MAX", "MIN", "SUM", "AVG", "COUNT_DISTINCT"}


def _decode_string(raw: str, text: str, token: Token) -> str:
    """The value of a quoted string's inner text, with SOQL's backslash escapes applied."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\":
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if nxt not in _ESCAPES:
                raise _error("MALFORMED_QUERY", text, token.line or 1, token.column or 1,
                             f"Invalid string literal '{raw}'. Illegal character sequence "
                             f"'\\{nxt}' in string literal.")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _parse_datetime_literal(raw: str) -> datetime | None:
    value = raw.upper()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class _Builder(Transformer):  # type: ignore[type-arg]
    """Turns lark's parse tree into the frozen dataclasses above, checking literals on the way."""

    def __init__(self, text: str) -> None:
        super().__init__(visit_tokens=False)
        self.text = text

    def _fail(self, token: Token, message: str) -> SoqlError:
        return _error("MALFORMED_QUERY", self.text, token.line or 1, token.column or 1, message)

    # -- structure -------------------------------------------------------------------------

    def start(self, items: list[Any]) -> SoqlQuery:
        return items[0]

    def query(self, items: list[Any]) -> SoqlQuery:
        select: list[SelectItem] = items[0]
        obj_token, alias = items[1]
        clauses: dict[str, Any] = dict(items[2:])
        count_only = [item for item in select if isinstance(item, CountItem) and item.field is None]
        if count_only and len(select) > 1:
            other = next(item for item in select if item is not count_only[0])
            raise _error("MALFORMED_QUERY", self.text, other.line, other.column,
                         "COUNT() must be the only element in the SELECT list")
        return SoqlQuery(
            object_name=str(obj_token),
            object_line=obj_token.line or 1,
            object_column=obj_token.column or 1,
            alias=alias,
            select=tuple(select),
            where=clauses.get("where"),
            group_by=clauses.get("group", ()),
            for_clause=clauses.get("for"),
            order_by=clauses.get("order", ()),
            limit=clauses.get("limit"),
            offset=clauses.get("offset"),
            count=bool(count_only),
            text=self.text,
        )

    def select_list(self, items: list[Any]) -> list[SelectItem]:
        return list(items)

    def func_item(self, items: list[Any]) -> CountItem | FuncItem:
        name_token: Token = items[0]
        name = str(name_token).upper()
        path = next((item for item in items[1:] if isinstance(item, FieldPath)), None)
        alias = next((str(item) for item in items[1:] if isinstance(item, Token)), None)
        line, column = name_token.line or 1, name_token.column or 1
        if name == "COUNT":
            if path is None and alias is not None:
                raise self._fail(items[-1], f"unexpected token: '{alias}'")
            return CountItem(path, alias, line, column)
        if name not in _AGGREGATES and name not in ("TOLABEL", "FIELDS"):
            raise self._fail(name_token, f"unexpected token: '(' (function {name_token}() is not supported "
                                         "by the sandbox)")
        if path is None:
            raise self._fail(name_token, f"unexpected token: ')' ({name_token}() needs a field)")
        if name == "FIELDS":
            if len(path.parts) != 1 or path.parts[0].upper() not in ("ALL", "STANDARD", "CUSTOM"):
                raise _error("MALFORMED_QUERY", self.text, path.line, path.column,
                             f"unexpected token: '{path.dotted}' (FIELDS takes ALL, STANDARD or CUSTOM)")
            if alias is not None:
                raise self._fail(items[-1], f"unexpected token: '{alias}'")
        return FuncItem(name, path, alias, line, column)

    def subquery_item(self, items: list[Any]) -> SubqueryItem:
        sub: SoqlQuery = items[0]
        return SubqueryItem(sub, sub.object_line, sub.object_column)

    def typeof_item(self, items: list[Any]) -> TypeofItem:
        relationship: FieldPath = items[0]
        whens = tuple(item for item in items[1:] if isinstance(item, tuple) and item[0] != "else")
        otherwise = next((item[1] for item in items[1:] if isinstance(item, tuple) and item[0] == "else"), ())
        if len(relationship.parts) > 1:
            raise _error("MALFORMED_QUERY", self.text, relationship.line, relationship.column,
                         f"unexpected token: '{relationship.dotted}' (TYPEOF on a parent's polymorphic field is "
                         "not supported by the sandbox)")
        return TypeofItem(relationship, whens, otherwise, relationship.line, relationship.column)

    def when_clause(self, items: list[Any]) -> tuple[str, tuple[FieldPath, ...]]:
        return (str(items[0]), tuple(items[1:]))

    def else_clause(self, items: list[FieldPath]) -> tuple[str, tuple[FieldPath, ...]]:
        return ("else", tuple(items))

    def group_clause(self, items: list[FieldPath]) -> tuple[str, tuple[FieldPath, ...]]:
        return ("group", tuple(items))

    def for_clause(self, items: list[Token]) -> tuple[str, str]:
        return ("for", str(items[0]).upper())

    def object_ref(self, items: list[Token]) -> tuple[Token, str | None]:
        if len(items) > 1 and str(items[1]).upper() in _UNSUPPORTED:
            word = str(items[1])
            raise self._fail(items[1], f"unexpected token: '{word}' ({_UNSUPPORTED[word.upper()]} "
                                       "is not supported by the sandbox)")
        return items[0], (str(items[1]) if len(items) > 1 else None)

    def path(self, items: list[Token]) -> FieldPath:
        return FieldPath(tuple(str(t) for t in items), items[0].line or 1, items[0].column or 1)

    def where_clause(self, items: list[Any]) -> tuple[str, Expr]:
        return ("where", items[0])

    def and_chain(self, items: list[Any]) -> BoolExpr:
        return BoolExpr("AND", tuple(items))

    def or_chain(self, items: list[Any]) -> BoolExpr:
        return BoolExpr("OR", tuple(items))

    def negation(self, items: list[Any]) -> NotExpr:
        return NotExpr(items[0])

    def cmp(self, items: list[Any]) -> Comparison:
        op = str(items[1])
        return Comparison(items[0], "!=" if op == "<>" else op, items[2])

    def like(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "LIKE", items[1])

    def in_list(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "IN", tuple(items[1]))

    def not_in_list(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "NOT IN", tuple(items[1]))

    def in_query(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "IN", items[1])

    def not_in_query(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "NOT IN", items[1])

    def includes(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "INCLUDES", tuple(items[1]))

    def excludes(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "EXCLUDES", tuple(items[1]))

    def value_list(self, items: list[Literal]) -> list[Literal]:
        return list(items)

    # -- literals --------------------------------------------------------------------------

    @staticmethod
    def _lit(kind: str, value: Any, token: Token, raw: str | None = None) -> Literal:
        return Literal(kind, value, str(token) if raw is None else raw, token.line or 1, token.column or 1)

    def string_lit(self, items: list[Token]) -> Literal:
        token = items[0]
        raw = str(token)[1:-1]
        return self._lit("string", _decode_string(raw, self.text, token), token, raw)

    def number_lit(self, items: list[Token]) -> Literal:
        token = items[0]
        raw = str(token)
        value: int | float = float(raw) if "." in raw else int(raw)
        return self._lit("number", value, token)

    def date_lit(self, items: list[Token]) -> Literal:
        token = items[0]
        try:
            value = date.fromisoformat(str(token))
        except ValueError:
            raise self._fail(token, f"invalid date: {token}") from None
        return self._lit("date", value, token)

    def datetime_lit(self, items: list[Token]) -> Literal:
        token = items[0]
        value = _parse_datetime_literal(str(token))
        if value is None:
            raise self._fail(token, f"invalid dateTime: {token}")
        return self._lit("datetime", value, token)

    def null_lit(self, items: list[Token]) -> Literal:
        return self._lit("null", None, items[0])

    def true_lit(self, items: list[Token]) -> Literal:
        return self._lit("boolean", True, items[0])

    def false_lit(self, items: list[Token]) -> Literal:
        return self._lit("boolean", False, items[0])

    def date_literal(self, items: list[Token]) -> Literal:
        token = items[0]
        name = str(token).upper()
        if name in _FIXED_DATE_LITERALS:
            if len(items) > 1:
                raise self._fail(token, f"date literal {name} does not take a number")
            return self._lit("date_literal", (name, None), token)
        if name in _N_DATE_LITERALS:
            if len(items) < 2:
                raise self._fail(token, f"date literal {name} needs a number, e.g. {name}:7")
            raw_n = str(items[1])
            if not raw_n.isdigit():
                raise self._fail(items[1], f"invalid number for {name}: {raw_n}")
            return self._lit("date_literal", (name, int(raw_n)), token, f"{token}:{raw_n}")
        raise self._fail(token, f"unexpected token: '{token}'")

    # -- ORDER BY, LIMIT, OFFSET -----------------------------------------------------------

    def order_clause(self, items: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...]]:
        return ("order", tuple(items))

    def order_item(self, items: list[Any]) -> OrderItem:
        path: FieldPath = items[0]
        words = {t.type for t in items[1:]}
        descending = "DESC" in words
        if "FIRST" in words:
            nulls_first = True
        elif "LAST" in words:
            nulls_first = False
        else:
            nulls_first = not descending
        return OrderItem(path, descending, nulls_first)

    def _count(self, token: Token, clause: str) -> int:
        raw = str(token)
        if not raw.isdigit():
            raise self._fail(token, f"{clause} must be a non-negative integer, not {raw}")
        return int(raw)

    def limit_clause(self, items: list[Token]) -> tuple[str, int]:
        return ("limit", self._count(items[0], "LIMIT"))

    def offset_clause(self, items: list[Token]) -> tuple[str, int]:
        return ("offset", self._count(items[0], "OFFSET"))


def _position(text: str, offset: int) -> tuple[int, int]:
    """Row and column (both 1-based) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _word_before(text: str, offset: int) -> tuple[str, int]:
    """The identifier (or single punctuation character) before ``offset``, and where it starts."""
    end = offset
    while end > 0 and text[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    if start == end and end > 0:
        return text[end - 1], end - 1
    return text[start:end], start


def _hint(token_value: str, previous: str, expected: set[str]) -> str:
    """A note on why a token was unexpected when the cause is a construct the sandbox lacks."""
    upper, prev = token_value.upper(), previous.upper()
    if upper in _UNSUPPORTED:
        return f" ({_UNSUPPORTED[upper]} is not supported by the sandbox)"
    if token_value == "(":
        if prev in ("SELECT", ","):
            return " (subqueries in the SELECT list are not supported by the sandbox)"
        if prev in _AGGREGATES:
            return f" (aggregate function {prev}() is not supported by the sandbox)"
        if previous[:1].isalpha():
            return f" (function {previous}() is not supported by the sandbox)"
    if (upper == "OR" and "AND" in expected) or (upper == "AND" and "OR" in expected):
        return " (use parentheses when mixing AND and OR)"
    return ""


def _syntax_error(text: str, exc: UnexpectedInput) -> SoqlError:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        value = str(token)
        offset = token.start_pos if token.start_pos is not None else 0
        line, column = token.line or 1, token.column or 1
        previous, prev_offset = _word_before(text, offset)
        if previous.upper() in _UNSUPPORTED:
            # "GROUP BY": GROUP parsed as an alias, BY is the token lark trips on; blame GROUP.
            value, previous = previous, _word_before(text, prev_offset)[0]
            line, column = _position(text, prev_offset)
        hint = _hint(value, previous, set(exc.expected or ()))
        return _error("MALFORMED_QUERY", text, line, column, f"unexpected token: '{value}'{hint}")
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        line, column = _position(text, len(text.rstrip()))
        return _error("MALFORMED_QUERY", text, line, column, "unexpected token: '<EOF>'")
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char
        hint = " (unterminated string literal)" if char == "'" else ""
        return _error("MALFORMED_QUERY", text, exc.line, exc.column, f"unexpected token: '{char}'{hint}")
    line, column = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
    return _error("MALFORMED_QUERY", text, line, column, str(exc))


@functools.lru_cache(maxsize=512)
def parse_soql(text: str) -> SoqlQuery:
    """Parse a SOQL statement (syntax only). Raises ``SoqlError("MALFORMED_QUERY", ...)``."""
    if not isinstance(text, str) or not text.strip():
        raise SoqlError("MALFORMED_QUERY", _located(text or "", 1, 1, "unexpected token: '<EOF>'"))
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        query: SoqlQuery = _Builder(text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, SoqlError):
            raise exc.orig_exc from None
        raise
    return query


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


class QuerySource(Protocol):
    """Where a query reads from: a schema plus stored rows (deleted rows included)."""

    schema: Schema

    def rows(self, object_name: str) -> Iterable[dict[str, Any]]:
        """Every stored row of the object, including deleted ones (``row["IsDeleted"]`` True)."""
        ...

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One row by 18-character id, deleted or not, or None."""
        ...


@dataclass
class QueryResult:
    """Records shaped like the REST API's, and totalSize."""

    records: list[dict[str, Any]]
    total_size: int


def _today() -> date:
    """Today in UTC (the sandbox's org time zone); tests may replace this."""
    return datetime.now(timezone.utc).date()


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _date_literal_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The [start, end) days a date literal stands for."""
    n = n or 0
    one = timedelta(days=1)
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)
    ranges: dict[str, Callable[[], tuple[date, date]]] = {
        "YESTERDAY": lambda: (today - one, today),
        "TODAY": lambda: (today, today + one),
        "TOMORROW": lambda: (today + one, today + 2 * one),
        "LAST_WEEK": lambda: (week - 7 * one, week),
        "THIS_WEEK": lambda: (week, week + 7 * one),
        "NEXT_WEEK": lambda: (week + 7 * one, week + 14 * one),
        "LAST_MONTH": lambda: (_add_months(month, -1), month),
        "THIS_MONTH": lambda: (month, _add_months(month, 1)),
        "NEXT_MONTH": lambda: (_add_months(month, 1), _add_months(month, 2)),
        "LAST_90_DAYS": lambda: (today - 90 * one, today + one),
        "NEXT_90_DAYS": lambda: (today + one, today + 91 * one),
        "THIS_QUARTER": lambda: (quarter, _add_months(quarter, 3)),
        "LAST_QUARTER": lambda: (_add_months(quarter, -3), quarter),
        "NEXT_QUARTER": lambda: (_add_months(quarter, 3), _add_months(quarter, 6)),
        "THIS_YEAR": lambda: (year, date(today.year + 1, 1, 1)),
        "LAST_YEAR": lambda: (date(today.year - 1, 1, 1), year),
        "NEXT_YEAR": lambda: (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": lambda: (today - n * one, today + one),
        "NEXT_N_DAYS": lambda: (today + one, today + (n + 1) * one),
        "N_DAYS_AGO": lambda: (today - n * one, today - (n - 1) * one),
        "LAST_N_WEEKS": lambda: (week - 7 * n * one, week),
        "NEXT_N_WEEKS": lambda: (week + 7 * one, week + 7 * (n + 1) * one),
        "LAST_N_MONTHS": lambda: (_add_months(month, -n), month),
        "NEXT_N_MONTHS": lambda: (_add_months(month, 1), _add_months(month, n + 1)),
        "LAST_N_QUARTERS": lambda: (_add_months(quarter, -3 * n), quarter),
        "NEXT_N_QUARTERS": lambda: (_add_months(quarter, 3), _add_months(quarter, 3 * n + 3)),
        "LAST_N_YEARS": lambda: (date(today.year - n, 1, 1), year),
        "NEXT_N_YEARS": lambda: (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)),
    }
    return ranges[name]()


@functools.lru_cache(maxsize=200_000)
def _instant(value: str) -> datetime | None:
    """A stored datetime string as an aware UTC datetime (None when unreadable)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed2 = _parse_datetime_literal(value)
        if parsed2 is None:
            return None
        parsed = parsed2
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


@dataclass(frozen=True)
class _Range:
    """A date literal resolved to [start, end) in the field's comparable form."""

    start: Any
    end: Any


def _kind(spec: FieldSpec) -> str:
    if spec.type in ("id", "reference"):
        return "id"
    if spec.type == "multipicklist":
        return "multi"
    if spec.type in TEXT_TYPES:
        return "text"
    if spec.type in NUMBER_TYPES:
        return "number"
    return spec.type  # boolean, date, datetime


_OPS_BY_KIND = {
    "text": {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "LIKE"},
    "id": {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "LIKE"},
    "number": {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"},
    "date": {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"},
    "datetime": {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"},
    "boolean": {"=", "!=", "IN", "NOT IN"},
    "multi": {"=", "!=", "INCLUDES", "EXCLUDES"},
}

_TYPE_WORD = {"text": "string", "id": "string", "multi": "string", "boolean": "boolean",
              "date": "date", "datetime": "dateTime"}


def _long_text(spec: FieldSpec) -> bool:
    return spec.type == "textarea" and spec.length > 255


def _normalise(kind: str) -> Callable[[Any], Any]:
    """Turn a stored value into its comparable form; None (or junk) becomes None.

    Every non-None result of one kind has one Python type, so comparisons and sorting never
    mix types, whatever a row holds.
    """
    if kind == "text":
        return lambda v: v.casefold() if isinstance(v, str) else (None if v is None else str(v).casefold())
    if kind == "id":
        return lambda v: v if isinstance(v, str) else None
    if kind == "datetime":
        return lambda v: _instant(v) if isinstance(v, str) else None
    if kind == "date":
        return lambda v: v[:10] if isinstance(v, str) else None
    if kind == "boolean":
        return lambda v: v if isinstance(v, bool) else None
    if kind == "multi":
        return lambda v: (frozenset(p.strip().casefold() for p in v.split(";") if p.strip())
                          if isinstance(v, str) else None)
    return _to_number


def _to_number(value: Any) -> int | float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _like_regex(raw: str) -> re.Pattern[str]:
    """A LIKE pattern (string literal source text) as a case-insensitive regular expression."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(re.escape(nxt if nxt in "%_" else _ESCAPES.get(nxt, nxt)))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class _Path:
    """A field path checked against the schema.

    ``rel_names`` are the canonical relationship names walked from the queried object and
    ``segments`` the written ones (looked up again per row, since a polymorphic parent's type is
    only known from its id); ``leaf`` is the final field's spec (of the first candidate object
    that has it).
    """

    node: FieldPath
    segments: tuple[str, ...]
    rel_names: tuple[str, ...]
    leaf_name: str
    leaf: FieldSpec


Row = dict[str, Any]
Predicate = Callable[[Row], bool]
_BLOB_URL_MARK = "/services/data/v{version}/"
#: A real org's answer to a ContentDocumentLink query without an Id filter on the document or the linked record.
LINK_FILTER_MESSAGE = ("Implementation restriction: ContentDocumentLink requires a filter by a single Id on "
                       "ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the "
                       "IN operator.")


def _filters_link(where: "Expr | None") -> bool:
    """Whether a ContentDocumentLink WHERE clause pins the rows by Id, ContentDocumentId or LinkedEntityId
    (``=`` or ``IN``, alone or ANDed with anything else), as a real org requires."""
    if isinstance(where, Comparison):
        name = where.field.parts[-1].lower() if len(where.field.parts) <= 2 else ""
        return name in ("id", "contentdocumentid", "linkedentityid") and where.op in ("=", "IN")
    if isinstance(where, BoolExpr):
        return any(_filters_link(item) for item in where.items) if where.op == "AND" \
            else all(_filters_link(item) for item in where.items)
    return False


class _Run:
    """One evaluation of a query against a source: name resolution caches and a parent cache."""

    def __init__(self, text: str, source: QuerySource, include_deleted: bool, api_version: str,
                 url_prefix: str) -> None:
        self.text = text
        self.source = source
        self.schema = source.schema
        self.include_deleted = include_deleted
        self.api_version = api_version
        self.url_base = f"/services/data/v{api_version}/{url_prefix}"
        self.today = _today()
        self._parents: dict[tuple[str, str], Row | None] = {}
        self._relationships: dict[tuple[str, str], FieldSpec | None] = {}
        self._fields: dict[tuple[str, str], str | None] = {}
        self._prefixes: dict[str, ObjectSpec | None] = {}

    # -- errors ----------------------------------------------------------------------------

    def _fail(self, code: str, line: int, column: int, message: str) -> SoqlError:
        return _error(code, self.text, line, column, message)

    # -- schema resolution -----------------------------------------------------------------

    def resolve_object(self, query: SoqlQuery) -> ObjectSpec:
        obj = self.schema.object(query.object_name)
        if obj is None or not obj.queryable:
            raise self._fail(
                "INVALID_TYPE", query.object_line, query.object_column,
                f"sObject type '{query.object_name}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.")
        return obj

    def resolve_path(self, query: SoqlQuery, obj: ObjectSpec, node: FieldPath) -> _Path:
        parts = list(node.parts)
        if len(parts) > 1:
            first = parts[0].lower()
            if (query.alias and first == query.alias.lower()) or (
                    first == obj.name.lower() and obj.relationship(parts[0]) is None):
                parts = parts[1:]
        candidates = [obj]
        rel_names: list[str] = []
        for segment in parts[:-1]:
            found: FieldSpec | None = None
            targets: list[ObjectSpec] = []
            if candidates == [NAME_ENTITY]:
                candidates = []        # no relationship is walked past a polymorphic one
            for candidate in candidates:
                ref = candidate.relationship(segment)
                if ref is None:
                    continue
                found = found or ref
                for target_name in ref.reference_to:
                    target = self.schema.object(target_name)
                    if target is not None and target not in targets:
                        targets.append(target)
            if found is None or not targets:
                raise self._fail(
                    "INVALID_FIELD", node.line, node.column,
                    f"Didn't understand relationship '{segment}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.")
            rel_names.append(found.relationship_name or segment)
            candidates = [NAME_ENTITY] if len(found.reference_to) > 1 else targets
        leaf_spec = next((spec for spec in (c.field(parts[-1]) for c in candidates) if spec), None)
        if leaf_spec is None:
            raise self._fail(
                "INVALID_FIELD", node.line, node.column,
                f"No such column '{parts[-1]}' on entity '{candidates[0].name}'. If you are attempting "
                "to use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.")
        return _Path(node, tuple(parts[:-1]), tuple(rel_names), leaf_spec.name, leaf_spec)

    # -- runtime lookups -------------------------------------------------------------------

    def _relationship(self, obj: ObjectSpec, segment: str) -> FieldSpec | None:
        key = (obj.name, segment.lower())
        if key not in self._relationships:
            self._relationships[key] = obj.relationship(segment)
        return self._relationships[key]

    def _field_name(self, obj: ObjectSpec, name: str) -> str | None:
        key = (obj.name, name.lower())
        if key not in self._fields:
            spec = obj.field(name)
            self._fields[key] = spec.name if spec else None
        return self._fields[key]

    def _target(self, ref: FieldSpec, parent_id: str) -> ObjectSpec | None:
        if len(ref.reference_to) == 1:
            return self.schema.object(ref.reference_to[0])
        prefix = parent_id[:3]
        if prefix not in self._prefixes:
            self._prefixes[prefix] = self.schema.by_prefix(prefix)
        return self._prefixes[prefix]

    def _parent(self, ref: FieldSpec, parent_id: Any) -> tuple[ObjectSpec, Row] | None:
        if not isinstance(parent_id, str) or not parent_id:
            return None
        if len(parent_id) == 15 and is_valid_id(parent_id):
            parent_id = to18(parent_id)
        target = self._target(ref, parent_id)
        if target is None:
            return None
        key = (target.name, parent_id)
        if key not in self._parents:
            parent = self.source.get(target.name, parent_id)
            if parent is not None and parent.get("IsDeleted") and not self.include_deleted:
                parent = None
            self._parents[key] = parent
        row = self._parents[key]
        return (target, row) if row is not None else None

    def _walk(self, obj: ObjectSpec, row: Row, segments: tuple[str, ...]) -> tuple[ObjectSpec, Row] | None:
        for segment in segments:
            ref = self._relationship(obj, segment)
            if ref is None:
                return None
            found = self._parent(ref, row.get(ref.name))
            if found is None:
                return None
            obj, row = found
        return obj, row

    def getter(self, obj: ObjectSpec, path: _Path) -> Callable[[Row], Any]:
        """A function reading the path's raw stored value from a row of ``obj``."""
        if not path.segments:
            name = path.leaf_name
            return lambda row: row.get(name)
        segments, leaf = path.segments, path.leaf_name
        polymorphic = path.leaf is NAME_ENTITY.fields.get(path.leaf.name)

        def get(row: Row) -> Any:
            found = self._walk(obj, row, segments)
            if found is None:
                return None
            target, parent = found
            if polymorphic:
                return self.name_value(target, parent, leaf)
            fname = self._field_name(target, leaf)
            return parent.get(fname) if fname else None

        return get

    def name_value(self, target: ObjectSpec, row: Row, field_name: str) -> Any:
        """A field of the Name entity for a record of ``target`` reached through a polymorphic relationship."""
        if field_name == "Type":
            return target.name
        if field_name == "Name":
            return row.get(target.name_field) if target.name_field else None
        fname = self._field_name(target, field_name)
        return row.get(fname) if fname else None

    # -- WHERE -----------------------------------------------------------------------------

    def compile_where(self, query: SoqlQuery, obj: ObjectSpec, expr: Expr) -> Predicate:
        if isinstance(expr, BoolExpr):
            preds = [self.compile_where(query, obj, item) for item in expr.items]
            if expr.op == "AND":
                return lambda row: all(p(row) for p in preds)
            return lambda row: any(p(row) for p in preds)
        if isinstance(expr, NotExpr):
            inner = self.compile_where(query, obj, expr.item)
            return lambda row: not inner(row)
        return self.compile_comparison(query, obj, expr)

    def _convert(self, lit: Literal, path: _Path, kind: str) -> Any:
        """A literal in the comparable form of the field's kind; raises on a type mismatch."""
        if lit.kind == "null":
            return None
        name = path.leaf.name
        if kind in ("text", "multi", "id"):
            if lit.kind != "string":
                raise self._fail("INVALID_FIELD", lit.line, lit.column,
                                 f"value of filter criterion for field '{name}' must be of type "
                                 "string and should be enclosed in quotes")
            if kind == "id":
                if not is_valid_id(lit.value):
                    raise self._fail("INVALID_QUERY_FILTER_OPERATOR", lit.line, lit.column,
                                     f"invalid ID field: {lit.value}")
                return to18(lit.value)
            if kind == "multi":
                return frozenset(p.strip().casefold() for p in lit.value.split(";") if p.strip())
            return lit.value.casefold()
        accepted = {"number": ("number",), "boolean": ("boolean",), "date": ("date", "date_literal"),
                    "datetime": ("datetime", "date_literal")}[kind]
        if lit.kind not in accepted:
            word = ("int" if path.leaf.type == "int" else "double") if kind == "number" else _TYPE_WORD[kind]
            raise self._fail("INVALID_FIELD", lit.line, lit.column,
                             f"value of filter criterion for field '{name}' must be of type {word} "
                             "and should not be enclosed in quotes")
        if lit.kind == "date_literal":
            start, end = _date_literal_range(lit.value[0], lit.value[1], self.today)
            if kind == "date":
                return _Range(start.isoformat(), end.isoformat())
            return _Range(datetime.combine(start, time(0), timezone.utc),
                          datetime.combine(end, time(0), timezone.utc))
        if lit.kind == "date":
            return lit.value.isoformat()
        return lit.value

    def compile_comparison(self, query: SoqlQuery, obj: ObjectSpec, cmp: Comparison) -> Predicate:
        path = self.resolve_path(query, obj, cmp.field)
        node, spec = cmp.field, path.leaf
        kind = _kind(spec)
        if _long_text(spec):
            raise self._fail("INVALID_FIELD", node.line, node.column,
                             f"field '{spec.name}' can not be filtered in a query call")
        op = cmp.op
        if op not in _OPS_BY_KIND[kind]:
            if op in ("INCLUDES", "EXCLUDES"):
                message = "includes or excludes operator only valid on multipicklist field"
            else:
                message = f"invalid operator on {spec.type} field: {op}"
            raise self._fail("INVALID_QUERY_FILTER_OPERATOR", node.line, node.column, message)
        raw_get = self.getter(obj, path)
        norm = _normalise(kind)

        def get(row: Row) -> Any:
            return norm(raw_get(row))

        if isinstance(cmp.value, SoqlQuery):
            return self._semi_join(cmp, path, kind, get)
        if op == "LIKE":
            lit = cmp.value
            assert isinstance(lit, Literal)
            if lit.kind != "string":
                raise self._fail("INVALID_FIELD", lit.line, lit.column,
                                 f"value of filter criterion for field '{spec.name}' must be of type "
                                 "string and should be enclosed in quotes")
            pattern = _like_regex(lit.raw)
            return lambda row: isinstance(v := raw_get(row), str) and pattern.fullmatch(v) is not None
        if op in ("INCLUDES", "EXCLUDES"):
            assert isinstance(cmp.value, tuple)
            wanted = [self._convert(lit, path, "multi") for lit in cmp.value]
            sets = [w for w in wanted if w is not None]

            def includes(row: Row) -> bool:
                value = get(row)
                return value is not None and any(s <= value for s in sets)

            if op == "INCLUDES":
                return includes
            return lambda row: not includes(row)
        if op in ("IN", "NOT IN"):
            assert isinstance(cmp.value, tuple)
            values = [self._convert(lit, path, kind) for lit in cmp.value]
            with_null = any(v is None for v in values)
            ranges = [v for v in values if isinstance(v, _Range)]
            plain = {v for v in values if v is not None and not isinstance(v, _Range)}

            def member(row: Row) -> bool:
                value = get(row)
                if value is None:
                    return with_null
                return value in plain or any(r.start <= value < r.end for r in ranges)

            if op == "IN":
                return member
            return lambda row: not member(row)
        lit = cmp.value
        assert isinstance(lit, Literal)
        target = self._convert(lit, path, kind)
        return self._binary(op, get, target)

    @staticmethod
    def _binary(op: str, get: Callable[[Row], Any], target: Any) -> Predicate:
        if target is None:
            if op == "=":
                return lambda row: get(row) is None
            if op == "!=":
                return lambda row: get(row) is not None
            return lambda row: False
        if isinstance(target, _Range):
            start, end = target.start, target.end
            range_tests: dict[str, Callable[[Any], bool]] = {
                "=": lambda v: start <= v < end,
                "!=": lambda v: not start <= v < end,
                "<": lambda v: v < start,
                "<=": lambda v: v < end,
                ">": lambda v: v >= end,
                ">=": lambda v: v >= start,
            }
            test = range_tests[op]
            if op == "!=":
                return lambda row: (v := get(row)) is None or test(v)
            return lambda row: (v := get(row)) is not None and test(v)
        if op == "=":
            return lambda row: get(row) == target
        if op == "!=":
            return lambda row: get(row) != target
        tests: dict[str, Callable[[Any], bool]] = {
            "<": lambda v: v < target, "<=": lambda v: v <= target,
            ">": lambda v: v > target, ">=": lambda v: v >= target,
        }
        test = tests[op]
        return lambda row: (v := get(row)) is not None and test(v)

    def _semi_join(self, cmp: Comparison, path: _Path, kind: str, get: Callable[[Row], Any]) -> Predicate:
        sub = cmp.value
        assert isinstance(sub, SoqlQuery)
        node = cmp.field
        if kind != "id":
            raise self._fail("INVALID_FIELD", node.line, node.column,
                             f"Semi join sub-selects are only allowed on Id or reference fields, "
                             f"not on '{path.leaf.name}'")
        sub_obj = self.resolve_object(sub)
        items = sub.select
        if len(items) != 1 or not isinstance(items[0], FieldPath):
            first = items[0]
            raise self._fail("MALFORMED_QUERY", first.line, first.column,
                             "Semi join sub-selects must select exactly one Id or reference field")
        sub_path = self.resolve_path(sub, sub_obj, items[0])
        if _kind(sub_path.leaf) != "id":
            raise self._fail("INVALID_FIELD", items[0].line, items[0].column,
                             f"Semi join sub-selects can only select an Id or reference field, "
                             f"not '{sub_path.leaf.name}'")
        sub_get = self.getter(sub_obj, sub_path)
        rows = self.select_rows(sub, sub_obj, include_deleted=False)
        ids = {v for v in (sub_get(row) for row in rows) if v is not None}
        if cmp.op == "IN":
            return lambda row: get(row) in ids
        return lambda row: get(row) not in ids

    # -- ORDER BY --------------------------------------------------------------------------

    def sort(self, query: SoqlQuery, obj: ObjectSpec, rows: list[Row]) -> None:
        keys = []
        for item in query.order_by:
            path = self.resolve_path(query, obj, item.field)
            spec = path.leaf
            if _long_text(spec) or spec.type == "multipicklist":
                raise self._fail("INVALID_FIELD", item.field.line, item.field.column,
                                 f"field '{spec.name}' can not be sorted in a query call")
            keys.append((item, self.getter(obj, path), _normalise(_kind(spec))))
        for item, raw_get, norm in reversed(keys):
            null_rank = 0 if item.nulls_first != item.descending else 2

            def key(row: Row, raw_get: Callable[[Row], Any] = raw_get,
                    norm: Callable[[Any], Any] = norm, null_rank: int = null_rank) -> tuple[Any, ...]:
                value = norm(raw_get(row))
                return (null_rank,) if value is None else (1, value)

            rows.sort(key=key, reverse=item.descending)

    # -- running ---------------------------------------------------------------------------

    def select_rows(self, query: SoqlQuery, obj: ObjectSpec, include_deleted: bool) -> list[Row]:
        """Rows of ``obj`` that pass the deleted filter and WHERE, sorted, OFFSET/LIMIT applied."""
        predicate = self.compile_where(query, obj, query.where) if query.where is not None else None
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        rows = [row for row in self.source.rows(obj.name)
                if (include_deleted or not row.get("IsDeleted")) and (predicate is None or predicate(row))]
        if query.order_by:
            self.sort(query, obj, rows)
        start = query.offset or 0
        stop = start + query.limit if query.limit is not None else None
        return rows[start:stop]

    def attributes(self, type_name: str, record_id: Any) -> dict[str, str]:
        return {"type": type_name, "url": f"{self.url_base}/{type_name}/{record_id}"}

    def records(self, obj: ObjectSpec, rows: list[Row], paths: list[_Path]) -> list[dict[str, Any]]:
        """:meth:`record` of each row; a path to a field of ``obj`` itself is resolved once, not per row."""
        if any(path.segments or path.leaf is NAME_ENTITY.fields.get(path.leaf.name) for path in paths):
            return [self.record(obj, row, paths) for row in rows]
        own = [(self._field_name(obj, path.leaf_name), path.leaf_name) for path in paths]
        keys = ["attributes"] + [fname or leaf_name for fname, leaf_name in own]
        names = [fname or "\x00none" for fname, _ in own]   # a field the object lacks reads None
        type_name, url, mark = obj.name, f"{self.url_base}/{obj.name}/", _BLOB_URL_MARK
        out: list[dict[str, Any]] = []
        for row in rows:
            values = [{"type": type_name, "url": f"{url}{row.get('Id')}"}, *map(row.get, names)]
            for index, value in enumerate(values):
                if value.__class__ is str and value.startswith(mark):   # a base64 field: its URL
                    values[index] = value.replace("{version}", self.api_version, 1)
            out.append(dict(zip(keys, values)))
        return out

    def record(self, obj: ObjectSpec, row: Row, paths: list[_Path]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(obj.name, row.get("Id"))}
        for path in paths:
            target, cur_obj, cur_row = out, obj, row
            complete = True
            for segment, rel_name in zip(path.segments, path.rel_names):
                ref = self._relationship(cur_obj, segment)
                found = self._parent(ref, cur_row.get(ref.name)) if ref is not None else None
                key = ref.relationship_name if ref is not None and ref.relationship_name else rel_name
                if found is None:
                    target.setdefault(key, None)
                    complete = False
                    break
                nested = target.get(key)
                if not isinstance(nested, dict):
                    nested = {"attributes": self.attributes(found[0].name, found[1].get("Id"))}
                    target[key] = nested
                target, (cur_obj, cur_row) = nested, found
            if complete and path.leaf is NAME_ENTITY.fields.get(path.leaf.name):
                target[path.leaf.name] = self.name_value(cur_obj, cur_row, path.leaf.name)
            elif complete:
                fname = self._field_name(cur_obj, path.leaf_name)
                value = cur_row.get(fname) if fname else None
                if isinstance(value, str) and value.startswith(_BLOB_URL_MARK):   # a base64 field: its URL
                    value = value.replace("{version}", self.api_version, 1)
                target[fname or path.leaf_name] = value
        return out

    # -- the SELECT list -------------------------------------------------------------------

    def expand_fields(self, query: SoqlQuery, obj: ObjectSpec) -> list[SelectItem]:
        """The SELECT list with ``FIELDS(ALL|STANDARD|CUSTOM)`` replaced by the fields it stands for."""
        out: list[SelectItem] = []
        for item in query.select:
            if not (isinstance(item, FuncItem) and item.name == "FIELDS"):
                out.append(item)
                continue
            which = item.field.parts[0].upper()
            if which != "STANDARD" and (query.limit is None or query.limit > 200):
                raise self._fail("MALFORMED_QUERY", item.line, item.column,
                                 "The SOQL FIELDS function must have a LIMIT of at most 200")
            for spec in obj.fields.values():
                if which == "ALL" or (which == "CUSTOM") == spec.custom:
                    out.append(FieldPath((spec.name,), item.line, item.column))
        return out

    def child_relationship(self, obj: ObjectSpec, sub: SoqlQuery) -> tuple[ObjectSpec, FieldSpec]:
        """The child object and its reference field that ``FROM <relationship>`` in a subquery names."""
        from .describe import child_relationship_name

        wanted = sub.object_name.lower()
        for child, fspec in self.schema.children_of(obj.name):
            if child_relationship_name(child, fspec).lower() == wanted:
                return child, fspec
        raise self._fail("INVALID_TYPE", sub.object_line, sub.object_column,
                         f"Didn't understand relationship '{sub.object_name}' in FROM part of query call. If "
                         "you are attempting to use a custom relationship, be sure to append the '__r' after "
                         "the custom relationship name. Please reference your WSDL or the describe call for "
                         "the appropriate names.")

    def plain_paths(self, query: SoqlQuery, obj: ObjectSpec, items: list[SelectItem]) -> list[_Path]:
        paths: list[_Path] = []
        for item in items:
            node = item.field if isinstance(item, FuncItem) and item.name == "TOLABEL" else item
            if not isinstance(node, FieldPath):
                continue
            path = self.resolve_path(query, obj, node)
            if any(p.rel_names == path.rel_names and p.leaf_name == path.leaf_name for p in paths):
                raise self._fail("MALFORMED_QUERY", node.line, node.column,
                                 f"duplicate field selected: {node.dotted}")
            paths.append(path)
        return paths

    def run(self, query: SoqlQuery) -> QueryResult:
        obj = self.resolve_object(query)
        if obj.name == "ContentDocumentLink" and not _filters_link(query.where):
            raise SoqlError("MALFORMED_QUERY", LINK_FILTER_MESSAGE)
        items = self.expand_fields(query, obj)
        typeofs = [item for item in items if isinstance(item, TypeofItem)]
        if typeofs and query.is_aggregate:
            raise self._fail("MALFORMED_QUERY", typeofs[0].line, typeofs[0].column,
                             "TYPEOF cannot be used in a query with GROUP BY or aggregate functions")
        if query.is_aggregate:
            return self._aggregate(query, obj, items)
        if query.count:
            rows = self.select_rows(query, obj, self.include_deleted)
            return QueryResult([], len(rows))
        paths = self.plain_paths(query, obj, items)
        polymorphic = [self.prepare_typeof(query, obj, item, paths) for item in typeofs]
        subqueries = [self._prepare_subquery(obj, item.query) for item in items if isinstance(item, SubqueryItem)]
        rows = self.select_rows(query, obj, self.include_deleted)
        records = self.records(obj, rows, paths)
        for ref, by_type, otherwise in polymorphic:
            for row, record in zip(rows, records):
                record[ref.relationship_name or ref.name] = self.typeof_value(ref, row, by_type, otherwise)
        for key, fill in subqueries:
            children = fill([row["Id"] for row in rows])
            for row, record in zip(rows, records):
                record[key] = children.get(row["Id"])
        if polymorphic or subqueries:
            records = self._in_select_order(items, paths, [ref for ref, _, _ in polymorphic],
                                            [key for key, _ in subqueries], records)
        return QueryResult(records, len(records))

    @staticmethod
    def _in_select_order(items: list[SelectItem], paths: list[_Path], typeof_refs: list[FieldSpec],
                         subquery_keys: list[str], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records with their keys in the order of the SELECT list, as a real org returns them (TYPEOF
        and subquery values are filled after the plain fields)."""
        plain, typeofs, subs = iter(paths), iter(typeof_refs), iter(subquery_keys)
        order: list[str] = []
        for item in items:
            if isinstance(item, TypeofItem):
                ref = next(typeofs)
                key = ref.relationship_name or ref.name
            elif isinstance(item, SubqueryItem):
                key = next(subs)
            elif isinstance(item, FieldPath) or (isinstance(item, FuncItem) and item.name == "TOLABEL"):
                path = next(plain)
                key = path.rel_names[0] if path.rel_names else path.leaf.name
            else:
                continue
            if key not in order:
                order.append(key)
        return [{"attributes": r["attributes"], **{k: r[k] for k in order if k in r},
                 **{k: v for k, v in r.items() if k not in order and k != "attributes"}} for r in records]

    def prepare_typeof(self, query: SoqlQuery, obj: ObjectSpec, item: TypeofItem, paths: list[_Path]
                       ) -> tuple[FieldSpec, dict[str, list[_Path]], list[_Path]]:
        """Check a TYPEOF against the schema: (the polymorphic reference, the paths per WHEN object, the ELSE
        paths, which any of the other referenced objects may lack: they read as null there)."""
        node = item.relationship
        ref = self._relationship(obj, node.parts[0])
        if ref is None:
            raise self._fail("INVALID_FIELD", node.line, node.column,
                             f"Didn't understand relationship '{node.dotted}' in field path. If you are attempting "
                             "to use a custom relationship, be sure to append the '__r' after the custom "
                             "relationship name. Please reference your WSDL or the describe call for the "
                             "appropriate names.")
        name = ref.relationship_name or ref.name
        if len(ref.reference_to) < 2:
            raise self._fail("INVALID_FIELD", node.line, node.column,
                             f"TYPEOF can only be used on a polymorphic relationship: {obj.name}.{name} refers "
                             f"to {ref.reference_to[0]} only")
        clash = next((p for p in paths if p.rel_names[:1] == (name,)), None)
        if clash is not None:
            raise self._fail("MALFORMED_QUERY", clash.node.line, clash.node.column,
                             f"{clash.node.dotted}: the relationship {name} is also the field of a TYPEOF; select "
                             "its fields inside the TYPEOF")
        by_type: dict[str, list[_Path]] = {}
        for type_name, fields in item.whens:
            target = self.schema.object(type_name)
            if target is None or target.name not in ref.reference_to:
                raise self._fail("INVALID_TYPE", node.line, node.column,
                                 f"TYPEOF {name}: {type_name} is not one of the objects {obj.name}.{ref.name} can "
                                 f"refer to ({', '.join(ref.reference_to)})")
            if target.name in by_type:
                raise self._fail("MALFORMED_QUERY", node.line, node.column,
                                 f"TYPEOF {name}: WHEN {type_name} is given twice")
            as_target = SoqlQuery(target.name, node.line, node.column, None, fields, text=query.text)
            by_type[target.name] = self.plain_paths(as_target, target, list(fields))
        otherwise = self.plain_paths(SoqlQuery("Name", node.line, node.column, None, item.otherwise, text=query.text),
                                     NAME_ENTITY, list(item.otherwise))
        return ref, by_type, otherwise

    def typeof_value(self, ref: FieldSpec, row: Row, by_type: dict[str, list[_Path]],
                     otherwise: list[_Path]) -> dict[str, Any] | None:
        """The TYPEOF relationship of one record: null without a parent, else the parent's attributes with
        the fields of its type's WHEN (or the Name-entity fields of ELSE; none when neither applies)."""
        found = self._parent(ref, row.get(ref.name))
        if found is None:
            return None
        target, parent = found
        if target.name in by_type:
            return self.record(target, parent, by_type[target.name])
        out = self.record(target, parent, [])
        out.update((p.leaf.name, self.name_value(target, parent, p.leaf.name)) for p in otherwise)
        return out

    def _prepare_subquery(self, parent: ObjectSpec, sub: SoqlQuery
                          ) -> tuple[str, Callable[[list[str]], dict[str, dict[str, Any] | None]]]:
        """Check a child subquery; return its key in the parent record and a function that reads the
        children of a list of parent ids (``{parent id: {"totalSize", "done", "records"} or None}``)."""
        from .describe import child_relationship_name

        child, fspec = self.child_relationship(parent, sub)
        key = child_relationship_name(child, fspec)
        if sub.is_aggregate or sub.count or any(isinstance(i, (SubqueryItem, TypeofItem)) for i in sub.select):
            first = sub.select[0]
            raise self._fail("MALFORMED_QUERY", first.line, first.column,
                             "only plain fields can be selected in a relationship subquery")
        as_child = SoqlQuery(child.name, sub.object_line, sub.object_column, sub.alias, sub.select, sub.where,
                             sub.order_by, None, None, text=sub.text)
        items = self.expand_fields(sub, child)
        paths = self.plain_paths(as_child, child, items)
        predicate = self.compile_where(as_child, child, sub.where) if sub.where is not None else None
        ref_name = fspec.name

        def fill(parent_ids: list[str]) -> dict[str, dict[str, Any] | None]:
            wanted = set(parent_ids)
            by_parent: dict[str, list[Row]] = {}
            for row in self.source.rows(child.name):
                parent_id = row.get(ref_name)
                if parent_id in wanted and (self.include_deleted or not row.get("IsDeleted")) and (
                        predicate is None or predicate(row)):
                    by_parent.setdefault(parent_id, []).append(row)
            out: dict[str, dict[str, Any] | None] = {}
            for parent_id, rows in by_parent.items():
                if sub.order_by:
                    self.sort(as_child, child, rows)
                start = sub.offset or 0
                rows = rows[start:start + sub.limit if sub.limit is not None else None]
                if rows:
                    out[parent_id] = {"totalSize": len(rows), "done": True,
                                      "records": [self.record(child, row, paths) for row in rows]}
            return out

        return key, fill

    def _aggregate(self, query: SoqlQuery, obj: ObjectSpec, items: list[SelectItem]) -> QueryResult:
        groups = [self.resolve_path(query, obj, node) for node in query.group_by]
        for path in groups:
            spec = path.leaf
            if _long_text(spec) or spec.type in ("multipicklist", "double", "currency", "percent", "datetime"):
                raise self._fail("MALFORMED_QUERY", path.node.line, path.node.column,
                                 f"field '{spec.name}' can not be grouped in a query call")
        grouped = {(p.rel_names, p.leaf_name) for p in groups}
        columns: list[tuple[str, Callable[[list[Row]], Any]]] = []
        index = 0
        for item in items:
            if isinstance(item, SubqueryItem):
                raise self._fail("MALFORMED_QUERY", item.line, item.column,
                                 "relationship subqueries are not allowed in an aggregate query")
            if isinstance(item, FieldPath) or (isinstance(item, FuncItem) and item.name == "TOLABEL"):
                node = item if isinstance(item, FieldPath) else item.field
                path = self.resolve_path(query, obj, node)
                if (path.rel_names, path.leaf_name) not in grouped:
                    raise self._fail("MALFORMED_QUERY", node.line, node.column,
                                     f"Field must be grouped or aggregated: {node.dotted}")
                get = self.getter(obj, path)
                alias = item.alias if isinstance(item, FuncItem) else None
                columns.append((alias or path.leaf_name, lambda rows, get=get: get(rows[0])))
                continue
            if not isinstance(item, (CountItem, FuncItem)) or item.field is None:
                continue
            path = self.resolve_path(query, obj, item.field)
            name = "COUNT" if isinstance(item, CountItem) else item.name
            func = self._aggregate_function(name, path, obj)
            if item.alias:
                columns.append((item.alias, func))
            else:
                columns.append((f"expr{index}", func))
                index += 1
        for order in query.order_by:
            path = self.resolve_path(query, obj, order.field)
            if (path.rel_names, path.leaf_name) not in grouped:
                raise self._fail("MALFORMED_QUERY", order.field.line, order.field.column,
                                 f"Ordered field must be grouped or aggregated: {order.field.dotted}")
        unpaged = SoqlQuery(query.object_name, query.object_line, query.object_column, query.alias,
                            query.select, query.where, text=query.text)
        rows = self.select_rows(unpaged, obj, self.include_deleted)
        buckets: dict[tuple[Any, ...], list[Row]] = {}
        if groups:
            getters = [(self.getter(obj, p), _normalise(_kind(p.leaf))) for p in groups]
            for row in rows:
                buckets.setdefault(tuple(norm(get(row)) for get, norm in getters), []).append(row)
        else:
            buckets[()] = rows
        firsts = [members[0] if members else {} for members in buckets.values()]
        by_first = {id(members[0]) if members else 0: members for members in buckets.values()}
        if query.order_by and groups:
            self.sort(query, obj, firsts)
        records = []
        for first in firsts:
            members = by_first[id(first) if first else 0]
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for key, func in columns:
                record[key] = func(members) if members or not groups else None
            records.append(record)
        start = query.offset or 0
        stop = start + query.limit if query.limit is not None else None
        records = records[start:stop]
        return QueryResult(records, len(records))

    def _aggregate_function(self, name: str, path: _Path, obj: ObjectSpec) -> Callable[[list[Row]], Any]:
        get = self.getter(obj, path)
        kind = _kind(path.leaf)
        node = path.node
        if name in ("SUM", "AVG") and kind != "number":
            raise self._fail("MALFORMED_QUERY", node.line, node.column,
                             f"field {path.leaf.name} does not support aggregate operator {name}")
        if name in ("MIN", "MAX") and (kind in ("boolean", "multi") or _long_text(path.leaf)):
            raise self._fail("MALFORMED_QUERY", node.line, node.column,
                             f"field {path.leaf.name} does not support aggregate operator {name}")
        norm = _normalise(kind)

        def values(rows: list[Row]) -> list[Any]:
            return [v for v in (get(row) for row in rows) if v is not None]

        if name == "COUNT":
            return lambda rows: len(values(rows))
        if name == "COUNT_DISTINCT":
            return lambda rows: len({norm(v) for v in values(rows)})
        if name == "SUM":
            return lambda rows: sum(n for n in map(_to_number, values(rows)) if n is not None) if values(rows) \
                else None
        if name == "AVG":
            def avg(rows: list[Row]) -> Any:
                numbers = [n for n in map(_to_number, values(rows)) if n is not None]
                return sum(numbers) / len(numbers) if numbers else None
            return avg
        pick = min if name == "MIN" else max

        def extreme(rows: list[Row]) -> Any:
            found = [(norm(v), v) for v in values(rows)]
            found = [pair for pair in found if pair[0] is not None]
            return pick(found, key=lambda pair: pair[0])[1] if found else None
        return extreme

    # -- column metadata (query?columns=true) -------------------------------------------

    def columns(self, query: SoqlQuery) -> dict[str, Any]:
        """What ``GET query?q=...&columns=true`` answers: the query's columns, not its rows."""
        obj = self.resolve_object(query)
        items = self.expand_fields(query, obj)
        out: list[dict[str, Any]] = []
        index = 0
        id_selected = False
        for item in items:
            if isinstance(item, SubqueryItem):
                child, _ = self.child_relationship(obj, item.query)
                sub = item.query
                as_child = SoqlQuery(child.name, sub.object_line, sub.object_column, sub.alias, sub.select,
                                     text=sub.text)
                inner = [self._column(child, p) for p in
                         self.plain_paths(as_child, child, self.expand_fields(sub, child))]
                from .describe import child_relationship_name
                name = child_relationship_name(child, self.child_relationship(obj, sub)[1])
                out.append(_column_entry(name, name, None, aggregate=True, join=inner))
            elif isinstance(item, TypeofItem):
                ref, by_type, otherwise = self.prepare_typeof(query, obj, item, [])
                name = ref.relationship_name or ref.name
                inner, seen = [], set()
                for paths in [*by_type.values(), otherwise]:
                    for path in paths:
                        entry = self._column(obj, path)
                        if entry["columnName"] not in seen:
                            seen.add(entry["columnName"])
                            inner.append(entry)
                out.append(_column_entry(name, name, None, join=inner))
            elif isinstance(item, CountItem) and item.field is None:
                continue
            elif isinstance(item, (CountItem, FuncItem)) and (
                    isinstance(item, CountItem) or item.name in _AGGREGATES):
                assert item.field is not None
                fname = "COUNT" if isinstance(item, CountItem) else item.name
                path = self.resolve_path(query, obj, item.field)
                self._aggregate_function(fname, path, obj)
                key = item.alias or f"expr{index}"
                if not item.alias:
                    index += 1
                spec = path.leaf if fname in ("MIN", "MAX") else None
                out.append(_column_entry(key, f"{fname}({item.field.dotted})", spec, aggregate=True,
                                         apex="Integer" if fname.startswith("COUNT") else
                                         ("Double" if fname in ("SUM", "AVG") else None)))
            else:
                node = item.field if isinstance(item, FuncItem) else item
                assert isinstance(node, FieldPath)
                path = self.resolve_path(query, obj, node)
                if not path.segments and path.leaf_name == "Id":
                    id_selected = True
                out.append(self._column(obj, path))
        return {"columnMetadata": out, "entityName": obj.name, "groupBy": bool(query.group_by),
                "idSelected": id_selected, "keyPrefix": obj.key_prefix}

    def _column(self, obj: ObjectSpec, path: _Path) -> dict[str, Any]:
        """One field's column entry; a relationship path nests its parts in ``joinColumns``."""
        leaf = _column_entry(path.leaf.name, ".".join((*path.rel_names, path.leaf.name)), path.leaf)
        for depth in range(len(path.rel_names), 0, -1):
            name = path.rel_names[depth - 1]
            leaf = _column_entry(name, ".".join(path.rel_names[:depth]), None, join=[leaf])
        return leaf


_APEX_TYPES = {"id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer", "double": "Double",
               "currency": "Double", "percent": "Double", "date": "Date", "datetime": "Datetime"}


def _column_entry(name: str, display: str, spec: FieldSpec | None, *, aggregate: bool = False,
                  join: list[dict[str, Any]] | None = None, apex: str | None = None) -> dict[str, Any]:
    kind = _kind(spec) if spec is not None else None
    return {
        "aggregate": aggregate,
        "apexType": (_APEX_TYPES.get(spec.type, "String") if spec is not None else apex),
        "booleanType": kind == "boolean",
        "columnName": name,
        "custom": bool(spec.custom) if spec is not None else False,
        "displayName": display,
        "foreignKeyName": None,
        "insertable": bool(spec.createable) if spec is not None else False,
        "joinColumns": join or [],
        "numberType": kind == "number" or apex in ("Integer", "Double"),
        "textType": kind in ("text", "multi"),
        "updatable": bool(spec.updateable) if spec is not None else False,
    }


def query_columns(text: str, source: QuerySource, *, api_version: str = "59.0") -> dict[str, Any]:
    """The column metadata of a query (``query?columns=true``), checked like :func:`run_query`."""
    query = parse_soql(text)
    return _Run(text, source, False, api_version, "sobjects").columns(query)


def run_query(text: str, source: QuerySource, *, include_deleted: bool = False, api_version: str = "59.0",
              url_prefix: str = "sobjects") -> QueryResult:
    """Parse, check and evaluate ``text`` against ``source``.

    ``include_deleted`` is queryAll (rows with IsDeleted true are kept). Record URLs read
    ``/services/data/v{api_version}/{url_prefix}/{Type}/{Id}``. Raises :class:`SoqlError`.
    """
    query = parse_soql(text)
    result = _Run(text, source, include_deleted, api_version, url_prefix).run(query)
    logger.debug("SOQL %r -> %d record(s), totalSize %d", text, len(result.records), result.total_size)
    return result
