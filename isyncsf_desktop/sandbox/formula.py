"""Salesforce formula expressions, as validation rules and simulated automation use them.

A formula is parsed once with a `lark` LALR grammar, checked against the object's schema
(unknown fields, unknown functions, wrong argument counts, mismatched operand types) and
compiled into a tree of Python closures, so :meth:`Formula.evaluate` is a plain function call
per node — fast enough for tens of thousands of records a second.

>>> from isyncsf_desktop.sandbox.formula import compile_formula, is_true
>>> rule = compile_formula("AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email))")
>>> is_true(rule.evaluate({"LeadSource": "Web", "Email": None}))
True

Semantics follow Salesforce's "treat blank fields as blanks" mode:

* text: ``None`` and ``''`` are the same value; ``=`` is case-sensitive; ``&`` and text
  functions read a blank as ``''``;
* numbers are exact decimals internally (``0.1 + 0.2 = 0.3`` holds); arithmetic with a blank
  operand is blank; division by zero and other math errors give blank (``None``);
* comparisons with a blank non-text operand are FALSE (``=`` and ``<>`` alike); ``x = NULL``
  and ``x <> NULL`` test blankness;
* in a logical position (``AND``, ``OR``, ``NOT``, ``&&``, ``||``, ``!``, ``IF``'s condition)
  a blank counts as FALSE; ``&&``/``||``/``AND``/``OR``/``IF``/``CASE`` evaluate lazily;
* date fields compare as dates, datetime fields as instants (naive datetimes are UTC);
  ``date ± n`` shifts by days, ``date - date`` is a number of days.

Values handed to :meth:`Formula.evaluate` and returned by it are JSON-native: ``str``,
``int``, ``float``, ``bool``, ``None``; dates ``'YYYY-MM-DD'``, datetimes
``'YYYY-MM-DDTHH:MM:SS.000+0000'``.

With an :class:`ObjectSpec`, operand types are checked the way Salesforce's formula editor
does ("Incorrect parameter type for operator '+'. Expected Number, received Text"), except
that picklists may also be used as text.  Without one, every field is of unknown type and
values are coerced by shape at run time (``'2024-01-31' + 1`` is a date).

Globals: ``$RecordType.X`` reads ``RecordType.X``; ``$User``, ``$Profile``, ``$Permission``,
``$Setup``, ``$Label`` and the like read as blank (the sandbox has no running user); other
``$`` names are compile errors.  Not supported: time values (``TIMEVALUE``, ``HOUR``...),
``ISCLONE``, ``VLOOKUP``, ``GETRECORDIDS``, ``HYPERLINK``/``IMAGE``, ``CURRENCYRATE``,
``PARENTGROUPVAL``/``PREVGROUPVAL`` and the user's time zone (TODAY() is the UTC date).
"""

from __future__ import annotations

import calendar
import math
import operator
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .schema import FieldSpec, ObjectSpec

__all__ = ["SUPPORTED_FUNCTIONS", "Formula", "FormulaError", "compile_formula", "is_true"]


class FormulaError(ValueError):
    """A formula does not compile: bad syntax, an unknown field or function, a wrong number
    or type of arguments.  The message says what is wrong and where (``column`` is 1-based,
    ``None`` when the error has no single position)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


# --------------------------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------------------------

# Precedence, loosest first: || ; && ; = == != <> ; < <= > >= ; & ; + - ; * / ;
# unary - + ! ; ^ (right-associative, so -2^2 = -4 and 2^3^2 = 512).
_GRAMMAR = r"""
?start: expr

?expr: or_expr
?or_expr: and_expr
        | or_expr OROP and_expr                          -> binop
?and_expr: eq_expr
         | and_expr ANDOP eq_expr                        -> binop
?eq_expr: rel_expr
        | eq_expr (EQ | EQEQ | NE | LTGT) rel_expr       -> binop
?rel_expr: cat_expr
         | rel_expr (LT | LE | GT | GE) cat_expr         -> binop
?cat_expr: add_expr
         | cat_expr AMP add_expr                         -> binop
?add_expr: mul_expr
         | add_expr (PLUS | MINUS) mul_expr              -> binop
?mul_expr: unary
         | mul_expr (STAR | SLASH) unary                 -> binop
?unary: power
      | (MINUS | PLUS | BANG) unary                      -> unop
?power: atom
      | atom CARET unary                                 -> binop
?atom: NUMBER                                            -> number
     | STRING                                            -> string
     | NAME "(" [args] ")"                               -> call
     | NAME ("." NAME)*                                  -> ref
     | GLOBAL ("." NAME)*                                -> global_ref
     | "(" expr ")"
args: expr ("," expr)*

NAME: /[A-Za-z_][A-Za-z0-9_]*/
GLOBAL: /\$[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /\d+(\.\d*)?|\.\d+/
STRING: /"(?:[^"\\]|\\.)*"/s | /'(?:[^'\\]|\\.)*'/s

OROP: "||"
ANDOP: "&&"
EQ: "="
EQEQ: "=="
NE: "!="
LTGT: "<>"
LT: "<"
LE: "<="
GT: ">"
GE: ">="
AMP: "&"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
CARET: "^"
BANG: "!"

COMMENT: /\/\*(.|\n)*?\*\//
%ignore COMMENT
%ignore /[ \t\f\r\n]+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)

# How lark's terminal names read in an error message.
_TERMINAL_TEXT = {
    "RPAR": "')'", "LPAR": "'('", "COMMA": "','", "DOT": "'.'", "NAME": "a name",
    "NUMBER": "a number", "STRING": "a string", "GLOBAL": "a global variable",
    "OROP": "'||'", "ANDOP": "'&&'", "EQ": "'='", "EQEQ": "'=='", "NE": "'!='", "LTGT": "'<>'",
    "LT": "'<'", "LE": "'<='", "GT": "'>'", "GE": "'>='", "AMP": "'&'", "PLUS": "'+'",
    "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "CARET": "'^'", "BANG": "'!'",
    "$END": "end of formula",
}


def _where(text: str, line: int | None, column: int | None) -> str:
    """``column N`` for one-line formulas, ``line L, column N`` for multi-line ones."""
    if column is None or column < 1:
        column = len(text) + 1
    if line is not None and line > 1:
        return f"line {line}, column {column}"
    return f"column {column}"


def _syntax_error(text: str, exc: UnexpectedInput) -> FormulaError:
    """Turn a lark parse error into a :class:`FormulaError` that names the column."""
    if isinstance(exc, UnexpectedCharacters):
        where = _where(text, exc.line, exc.column)
        char = exc.char
        if char in "\"'":
            return FormulaError(f"Syntax error at {where}: unterminated string literal", exc.column)
        return FormulaError(f"Syntax error at {where}: unexpected character {char!r}", exc.column)
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "accepts", None) or ())
    hint = ""
    if expected and len(expected) <= 4:
        hint = " (expected " + " or ".join(_TERMINAL_TEXT.get(e, e) for e in expected) + ")"
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken)
                                          and exc.token.type == "$END"):
        lines = text.split("\n")
        column = len(lines[-1]) + 1
        where = _where(text, len(lines), column)
        return FormulaError(f"Syntax error at {where}: unexpected end of formula{hint}", column)
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    where = _where(text, token.line, token.column)
    return FormulaError(f"Syntax error at {where}: unexpected {str(token)!r}{hint}", token.column)


@lru_cache(maxsize=1024)
def _parse(text: str) -> Tree:
    """Parse ``text`` (cached: the same rule text is compiled for many objects and stores)."""
    if not text.strip():
        raise FormulaError("Syntax error at column 1: the formula is empty", 1)
    try:
        return _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None


# --------------------------------------------------------------------------------------------
# Value helpers (runtime)
# --------------------------------------------------------------------------------------------

# Static types.  "Any" is unknown (no schema, a parent field, NULL, an unsupported global).
NUMBER, TEXT, PICKLIST, BOOLEAN, DATE, DATETIME, ANY = (
    "Number", "Text", "Picklist", "Boolean", "Date", "DateTime", "Any")
_FAMILY = {NUMBER: NUMBER, TEXT: TEXT, PICKLIST: TEXT, BOOLEAN: BOOLEAN, DATE: DATE,
           DATETIME: DATETIME}
_TEXTISH = {TEXT, PICKLIST}

_FIELD_TYPE = {
    "id": TEXT, "reference": TEXT, "string": TEXT, "textarea": TEXT, "email": TEXT, "phone": TEXT,
    "url": TEXT, "picklist": PICKLIST, "multipicklist": PICKLIST, "combobox": PICKLIST,
    "boolean": BOOLEAN, "int": NUMBER, "double": NUMBER, "currency": NUMBER, "percent": NUMBER,
    "date": DATE, "datetime": DATETIME,
}

_MISSING = object()
_UTC = timezone.utc
_DAY_SECONDS = Decimal(86400)
_NUMBER_RE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _ci_get(row: dict[str, Any], name: str, lname: str) -> Any:
    """``row[name]``, falling back to a case-insensitive match; ``None`` when absent."""
    value = row.get(name, _MISSING)
    if value is not _MISSING:
        return value
    for key, value in row.items():
        if key.lower() == lname:
            return value
    return None


def _to_number(value: Any) -> Any:
    """A record value read as a number: ``int`` or :class:`Decimal` (floats become exact)."""
    if value is None:
        return None
    kind = type(value)
    if kind is int or kind is Decimal:
        return value
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is bool:
        return int(value)
    if kind is str:
        text = value.strip()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return None


def _to_date(value: Any) -> date | None:
    """A value read as a date: ``date``, the date of a ``datetime``, or a parsed ISO string."""
    kind = type(value)
    if kind is date:
        return value
    if kind is datetime:
        return value.astimezone(_UTC).date() if value.tzinfo else value.date()
    if kind is str:
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _to_datetime(value: Any) -> datetime | None:
    """A value read as an aware UTC datetime (dates are midnight UTC; naive strings are UTC)."""
    kind = type(value)
    if kind is datetime:
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    if kind is date:
        return datetime(value.year, value.month, value.day, tzinfo=_UTC)
    if kind is str:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)
    return None


def _to_boolean(value: Any) -> bool:
    """A checkbox value: booleans as they are, ``'true'`` strings, blank as FALSE."""
    if type(value) is bool:
        return value
    if type(value) is str:
        return value.strip().lower() == "true"
    return False


def _to_plain(value: Any) -> Any:
    """A value of unknown type: floats become exact decimals, everything else is kept."""
    if type(value) is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    return value


def _to_text_value(value: Any) -> Any:
    """A text field value: strings as they are (other JSON scalars are stringified)."""
    if value is None or type(value) is str:
        return value
    return _text(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    NUMBER: _to_number, DATE: _to_date, DATETIME: _to_datetime, BOOLEAN: _to_boolean,
    TEXT: _to_text_value, PICKLIST: _to_text_value, ANY: _to_plain,
}


def _format_number(value: int | Decimal) -> str:
    """Plain decimal notation without trailing zeros (``12.50`` -> ``'12.5'``)."""
    if type(value) is int:
        return str(value)
    normal = value.normalize()
    return format(normal, "f") if normal != 0 else "0"


def _text(value: Any) -> str:
    """``TEXT()``: a value as Salesforce shows it in text; blank is ``''``."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is Decimal:
        return _format_number(value)
    if kind is float:
        return _format_number(Decimal(repr(value)))
    if kind is datetime:
        return _to_datetime(value).strftime("%Y-%m-%d %H:%M:%SZ")  # type: ignore[union-attr]
    if kind is date:
        return value.isoformat()
    return str(value)


def _export(value: Any) -> Any:
    """An internal value as a JSON-native one."""
    kind = type(value)
    if kind is Decimal:
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        # 1/3*3 is 0.999...9 in 28 digits: as a float it is 1.0, and an integer it is
        return int(number) if number.is_integer() else number
    if kind is datetime:
        stamp = value.astimezone(_UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"
    if kind is date:
        return value.isoformat()
    return value


def _kind(value: Any) -> str:
    """A one-letter runtime kind: n(umber) s(tring) b(oolean) d(ate) t(imestamp) ?."""
    kind = type(value)
    if kind is int or kind is Decimal or kind is float:
        return "n"
    if kind is str:
        return "s"
    if kind is bool:
        return "b"
    if kind is date:
        return "d"
    if kind is datetime:
        return "t"
    return "?"


def _align(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Bring two non-null values to one comparable kind, or ``None`` when they are not."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "t":
            return _to_datetime(a), _to_datetime(b)
        return (a, b) if ka != "?" else None
    pair = {ka, kb}
    if pair == {"d", "s"}:
        a, b = _to_date(a), _to_date(b)
    elif pair == {"t", "s"} or pair == {"t", "d"}:
        a, b = _to_datetime(a), _to_datetime(b)
    else:
        return None
    if a is None or b is None:
        return None
    return a, b


def _is_blank(value: Any) -> bool:
    return value is None or value == ""


def _equal(a: Any, b: Any, text_hint: bool) -> bool:
    """``a = b`` with Salesforce's blank handling (blank text is ``''``, other blanks never
    equal anything)."""
    if a is None or b is None:
        if text_hint or type(a) is str or type(b) is str:
            return ("" if a is None else a) == ("" if b is None else b)
        return False
    if type(a) is str and type(b) is str:
        return a == b
    pair = _align(a, b)
    if pair is None:
        return False
    return pair[0] == pair[1]


def _not_equal(a: Any, b: Any, text_hint: bool) -> bool:
    """``a <> b``: FALSE when a non-text operand is blank, else the negation of ``=``."""
    if a is None or b is None:
        if text_hint or type(a) is str or type(b) is str:
            return ("" if a is None else a) != ("" if b is None else b)
        return False
    if type(a) is str and type(b) is str:
        return a != b
    pair = _align(a, b)
    if pair is None:
        return True
    return pair[0] != pair[1]


def _same(a: Any, b: Any) -> bool:
    """Whether two values of one field are the same (for ISCHANGED: blank text is ``''``)."""
    if a == "":
        a = None
    if b == "":
        b = None
    if a is None or b is None:
        return a is None and b is None
    pair = _align(a, b)
    return pair is not None and pair[0] == pair[1]


def _ordering(op: str) -> Callable[[Any, Any], bool]:
    """``<``, ``<=``, ``>``, ``>=``: FALSE when either side is blank or they do not compare."""
    compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def ordered(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        pair = _align(a, b)
        if pair is None:
            return False
        try:
            return bool(compare(pair[0], pair[1]))
        except TypeError:
            return False

    return ordered


def _is_number(value: Any) -> bool:
    return type(value) in (int, Decimal)


_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _temporal(value: str, like: str = "") -> date | datetime | None:
    """A text operand of date arithmetic read as a date (``like='d'``), a datetime
    (``like='t'``) or, for values of unknown type, whichever its shape says."""
    if like == "d":
        return _to_date(value)
    if like == "t":
        return _to_datetime(value)
    text = value.strip()
    if _ISO_DATE_RE.fullmatch(text):
        return _to_date(text)
    if _ISO_DATETIME_RE.match(text):
        return _to_datetime(text)
    return None


def _add(a: Any, b: Any) -> Any:
    """``+``: numbers add, texts concatenate, a date or datetime moves by a number of days."""
    if a is None or b is None:
        if type(a) is str or type(b) is str:  # text + text concatenates; blank is ''
            return ("" if a is None else a) + ("" if b is None else b)
        return None
    ka, kb = _kind(a), _kind(b)
    if ka == "s" and kb == "s":
        return a + b
    if ka == "s":  # an untyped date value ('2024-01-31' + 1)
        a = _temporal(a)
        ka = _kind(a)
    elif kb == "s":
        b = _temporal(b)
        kb = _kind(b)
    try:
        if ka == "n" and kb == "n":
            return a + b
        if ka == "d" and kb == "n":
            return a + timedelta(days=int(b))
        if ka == "n" and kb == "d":
            return b + timedelta(days=int(a))
        if ka == "t" and kb == "n":
            return a + timedelta(days=float(b))
        if ka == "n" and kb == "t":
            return b + timedelta(days=float(a))
    except (ArithmeticError, OverflowError, ValueError):
        return None
    return None


def _sub(a: Any, b: Any) -> Any:
    """``-``: numbers subtract, dates move back by days, two dates give the days between."""
    if a is None or b is None:
        return None
    ka, kb = _kind(a), _kind(b)
    if ka == "s":
        a = _temporal(a, kb)
        ka = _kind(a)
    if kb == "s":
        b = _temporal(b, ka)
        kb = _kind(b)
    if a is None or b is None:
        return None
    try:
        if ka == "n" and kb == "n":
            return a - b
        if ka == "d" and kb == "n":
            return a - timedelta(days=int(b))
        if ka == "t" and kb == "n":
            return a - timedelta(days=float(b))
        if ka == "d" and kb == "d":
            return (a - b).days
        if ka == "t" and kb == "t":
            delta = a - b
            micros = Decimal(delta.seconds * 1_000_000 + delta.microseconds)
            return Decimal(delta.days) + micros / Decimal(1_000_000) / _DAY_SECONDS
    except (ArithmeticError, OverflowError, ValueError):
        return None
    return None


def _mul(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b):
        try:
            return a * b
        except ArithmeticError:
            return None
    return None


def _div(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b) and b != 0:
        try:
            return Decimal(a) / Decimal(b)
        except ArithmeticError:
            return None
    return None


def _pow(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b):
        try:
            return Decimal(a) ** Decimal(b)
        except ArithmeticError:
            return None
    return None


def _concat(a: Any, b: Any) -> str:
    return _text(a) + _text(b)


def _negate(a: Any) -> Any:
    return -a if _is_number(a) else None


def _truth(value: Any) -> bool:
    """A value in a logical position: only TRUE is true (blank counts as FALSE)."""
    return value is True


# --------------------------------------------------------------------------------------------
# Function implementations (pure ones; context-dependent ones are built in the compiler)
# --------------------------------------------------------------------------------------------

def _str(value: Any) -> str:
    return "" if value is None else (value if type(value) is str else _text(value))


def _int_arg(value: Any) -> int | None:
    number = _to_number(value) if type(value) is not bool else None
    if number is None:
        return None
    try:
        return int(number)
    except (ValueError, OverflowError, ArithmeticError):
        return None


def _fn_len(value: Any) -> int:
    return len(_str(value))


def _fn_value(value: Any) -> Any:
    if value is None:
        return None
    if _is_number(value):
        return value
    text = _str(value)
    if not _NUMBER_RE.fullmatch(text):
        return None
    return Decimal(text.strip())


def _fn_isnumber(value: Any) -> bool:
    if _is_number(value):
        return True
    return value is not None and bool(_NUMBER_RE.fullmatch(_str(value)))


def _fn_begins(text: Any, prefix: Any) -> bool:
    return _str(text).startswith(_str(prefix))


def _fn_contains(text: Any, part: Any) -> bool:
    return _str(part) in _str(text)


def _fn_upper(value: Any) -> str:
    return _str(value).upper()


def _fn_lower(value: Any) -> str:
    return _str(value).lower()


def _fn_trim(value: Any) -> str:
    return _str(value).strip()


def _fn_left(text: Any, count: Any) -> str:
    n = _int_arg(count)
    return _str(text)[:max(n, 0)] if n is not None else ""


def _fn_right(text: Any, count: Any) -> str:
    n = _int_arg(count)
    if n is None or n <= 0:
        return ""
    return _str(text)[-n:]


def _fn_mid(text: Any, start: Any, count: Any) -> str:
    s, n = _int_arg(start), _int_arg(count)
    if s is None or n is None or n <= 0:
        return ""
    s = max(s, 1) - 1
    return _str(text)[s:s + n]


def _fn_find(search: Any, text: Any, start: Any = 1) -> int:
    needle, haystack, s = _str(search), _str(text), _int_arg(start)
    if not needle or s is None or s < 1:
        return 0
    return haystack.find(needle, s - 1) + 1


def _fn_substitute(text: Any, old: Any, new: Any) -> str:
    source, old_text = _str(text), _str(old)
    return source.replace(old_text, _str(new)) if old_text else source


def _pad(text: Any, length: Any, pad: Any, left: bool) -> str:
    source, n = _str(text), _int_arg(length)
    fill = " " if pad is _MISSING else _str(pad)
    if n is None or n <= 0:
        return ""
    if len(source) >= n or not fill:
        return source[:n]
    needed = n - len(source)
    filler = (fill * (needed // len(fill) + 1))[:needed]
    return filler + source if left else source + filler


def _fn_lpad(text: Any, length: Any, pad: Any = _MISSING) -> str:
    return _pad(text, length, pad, left=True)


def _fn_rpad(text: Any, length: Any, pad: Any = _MISSING) -> str:
    return _pad(text, length, pad, left=False)


def _fn_includes(values: Any, value: Any) -> bool:
    wanted = _str(value)
    return bool(wanted) and wanted in _str(values).split(";")


def _fn_abs(value: Any) -> Any:
    return abs(value) if _is_number(value) else None


def _fn_floor(value: Any) -> Any:
    return math.floor(value) if _is_number(value) else None


def _fn_ceiling(value: Any) -> Any:
    return math.ceil(value) if _is_number(value) else None


def _fn_round(value: Any, digits: Any) -> Any:
    places = _int_arg(digits)
    if not _is_number(value) or places is None:
        return None
    try:
        return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except ArithmeticError:
        return None


def _fn_mod(value: Any, divisor: Any) -> Any:
    if not (_is_number(value) and _is_number(divisor)) or divisor == 0:
        return None
    try:
        return Decimal(value) % Decimal(divisor)  # sign of the dividend, as in Java
    except ArithmeticError:
        return None


def _fn_sqrt(value: Any) -> Any:
    if not _is_number(value) or value < 0:
        return None
    return Decimal(value).sqrt()


def _fn_exp(value: Any) -> Any:
    if not _is_number(value):
        return None
    try:
        return Decimal(value).exp()
    except ArithmeticError:
        return None


def _fn_ln(value: Any) -> Any:
    return Decimal(value).ln() if _is_number(value) and value > 0 else None


def _fn_log(value: Any) -> Any:
    return Decimal(value).log10() if _is_number(value) and value > 0 else None


def _fn_max(*values: Any) -> Any:
    if not all(_is_number(v) for v in values):
        return None
    return max(values)


def _fn_min(*values: Any) -> Any:
    if not all(_is_number(v) for v in values):
        return None
    return min(values)


def _fn_date(year: Any, month: Any, day: Any) -> date | None:
    y, m, d = _int_arg(year), _int_arg(month), _int_arg(day)
    if y is None or m is None or d is None:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _fn_year(value: Any) -> int | None:
    day = _to_date(value)
    return day.year if day else None


def _fn_month(value: Any) -> int | None:
    day = _to_date(value)
    return day.month if day else None


def _fn_day(value: Any) -> int | None:
    day = _to_date(value)
    return day.day if day else None


def _fn_weekday(value: Any) -> int | None:
    day = _to_date(value)
    return day.isoweekday() % 7 + 1 if day else None  # 1 = Sunday ... 7 = Saturday


def _fn_datevalue(value: Any) -> date | None:
    return _to_date(value) if value is not None else None


def _fn_datetimevalue(value: Any) -> datetime | None:
    return _to_datetime(value) if value is not None else None


def _fn_addmonths(value: Any, months: Any) -> date | None:
    day, n = _to_date(value), _int_arg(months)
    if day is None or n is None:
        return None
    index = day.year * 12 + day.month - 1 + n
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        return None
    last = calendar.monthrange(year, month + 1)[1]
    at_month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month + 1, last if at_month_end else min(day.day, last))


def _fn_isblank(value: Any) -> bool:
    return value is None or value == ""


def _fn_isnull(value: Any) -> bool:
    return value is None


def _fn_blankvalue(value: Any, substitute: Any) -> Any:
    return substitute if value is None or value == "" else value


def _fn_nullvalue(value: Any, substitute: Any) -> Any:
    return substitute if value is None else value


def _fn_text(value: Any) -> str:
    return _text(value)


# Java regular expressions mostly read the same in Python; translate the POSIX classes.
_JAVA_CLASSES = {
    r"\p{Lower}": "a-z", r"\p{Upper}": "A-Z", r"\p{Alpha}": "a-zA-Z", r"\p{Digit}": "0-9",
    r"\p{Alnum}": "a-zA-Z0-9", r"\p{Punct}": r"!-/:-@\[-`{-~", r"\p{Space}": r" \t\n\x0b\f\r",
    r"\p{XDigit}": "0-9a-fA-F", r"\p{L}": r"^\W\d_", r"\p{IsAlphabetic}": r"^\W\d_",
    r"\p{N}": r"\d",
}


def _java_regex(pattern: str) -> str:
    """Rewrite the Java-only constructs of ``pattern`` that Python's ``re`` lacks."""
    if "\\p{" not in pattern:
        return pattern
    out = pattern
    for java, python in _JAVA_CLASSES.items():
        negated = java.replace("\\p", "\\P")
        if python.startswith("^"):
            out = out.replace(java, f"[{python}]").replace(negated, f"[{python[1:]}]")
        else:
            out = out.replace(java, f"[{python}]").replace(negated, f"[^{python}]")
    return out


@lru_cache(maxsize=256)
def _compile_regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(_java_regex(pattern))
    except re.error:
        return None


# --------------------------------------------------------------------------------------------
# Evaluation context and compiled nodes
# --------------------------------------------------------------------------------------------

class _Ctx:
    """What one evaluation sees: the record, its prior values and the parent resolver."""

    __slots__ = ("record", "prior", "is_new", "resolve", "parents", "_now")

    def __init__(self, record: dict[str, Any], prior: dict[str, Any] | None, is_new: bool,
                 resolve: Callable[[str, str], dict | None] | None, now: datetime | None) -> None:
        self.record = record
        self.prior = prior
        self.is_new = is_new
        self.resolve = resolve
        self.parents: dict[tuple[str, str], dict | None] | None = None
        self._now = now

    def now(self) -> datetime:
        """The evaluation instant (UTC, millisecond precision), fixed for the evaluation."""
        if self._now is None:
            stamp = datetime.now(_UTC)
            self._now = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
        elif self._now.tzinfo is None:
            self._now = self._now.replace(tzinfo=_UTC)
        return self._now

    def parent(self, field_name: str, record_id: str) -> dict | None:
        """The parent row ``field_name`` points at (resolved at most once per evaluation)."""
        if self.resolve is None:
            return None
        if self.parents is None:
            self.parents = {}
        key = (field_name, record_id)
        if key not in self.parents:
            self.parents[key] = self.resolve(field_name, record_id)
        return self.parents[key]


Evaluator = Callable[[_Ctx], Any]


@dataclass(slots=True)
class _FieldRef:
    """A plain (same-object) field reference: what ISCHANGED and PRIORVALUE need."""

    name: str
    read: Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class _Node:
    """A compiled sub-expression: its evaluator, static type and compile-time facts."""

    fn: Evaluator
    type: str
    const: bool = False
    value: Any = None
    field: _FieldRef | None = None
    is_null: bool = False


Step = Callable[[Any, _Ctx], Any]


def _step(impl: Callable[[Any, Any], Any], right: Evaluator) -> Step:
    """The step of a strict binary operator: ``impl(left value, right value)``."""
    return lambda acc, ctx: impl(acc, right(ctx))


def _unreachable(ctx: _Ctx) -> Any:  # pragma: no cover - placeholder inside operator chains
    raise AssertionError("placeholder evaluator called")


def _const(value: Any, type_: str, *, is_null: bool = False) -> _Node:
    return _Node(lambda ctx: value, type_, const=True, value=value, is_null=is_null)


def _apply(impl: Callable[..., Any], args: list[_Node]) -> Evaluator:
    """An evaluator calling ``impl`` on the values of ``args`` (specialised by arity)."""
    fns = [a.fn for a in args]
    if not fns:
        return lambda ctx: impl()
    if len(fns) == 1:
        f0 = fns[0]
        return lambda ctx: impl(f0(ctx))
    if len(fns) == 2:
        f0, f1 = fns
        return lambda ctx: impl(f0(ctx), f1(ctx))
    if len(fns) == 3:
        f0, f1, f2 = fns
        return lambda ctx: impl(f0(ctx), f1(ctx), f2(ctx))
    return lambda ctx: impl(*[f(ctx) for f in fns])


def _pure(impl: Callable[..., Any], type_: str, args: list[_Node]) -> _Node:
    """A node for a side-effect-free function; folded to a constant when all args are."""
    if all(a.const for a in args):
        return _const(impl(*[a.value for a in args]), type_)
    return _Node(_apply(impl, args), type_)


# --------------------------------------------------------------------------------------------
# Function table
# --------------------------------------------------------------------------------------------

_T = frozenset({TEXT, PICKLIST})
_N = frozenset({NUMBER})
_B = frozenset({BOOLEAN})
_D = frozenset({DATE})
_DT = frozenset({DATE, DATETIME, TEXT})
_ALL = frozenset({NUMBER, TEXT, PICKLIST, BOOLEAN, DATE, DATETIME})


@dataclass(frozen=True)
class _Signature:
    """Arity and argument types of a pure function."""

    impl: Callable[..., Any]
    result: str
    params: tuple[frozenset[str], ...]
    optional: int = 0  # how many trailing params may be left out
    variadic: bool = False  # the last param repeats


_PURE: dict[str, _Signature] = {
    "ISBLANK": _Signature(_fn_isblank, BOOLEAN, (_ALL,)),
    "ISNULL": _Signature(_fn_isnull, BOOLEAN, (_ALL,)),
    "LEN": _Signature(_fn_len, NUMBER, (_T,)),
    "TEXT": _Signature(_fn_text, TEXT, (_ALL,)),
    "VALUE": _Signature(_fn_value, NUMBER, (_T,)),
    "ISNUMBER": _Signature(_fn_isnumber, BOOLEAN, (_T,)),
    "BEGINS": _Signature(_fn_begins, BOOLEAN, (_T, _T)),
    "CONTAINS": _Signature(_fn_contains, BOOLEAN, (_T, _T)),
    "UPPER": _Signature(_fn_upper, TEXT, (_T,)),
    "LOWER": _Signature(_fn_lower, TEXT, (_T,)),
    "TRIM": _Signature(_fn_trim, TEXT, (_T,)),
    "LEFT": _Signature(_fn_left, TEXT, (_T, _N)),
    "RIGHT": _Signature(_fn_right, TEXT, (_T, _N)),
    "MID": _Signature(_fn_mid, TEXT, (_T, _N, _N)),
    "FIND": _Signature(_fn_find, NUMBER, (_T, _T, _N), optional=1),
    "SUBSTITUTE": _Signature(_fn_substitute, TEXT, (_T, _T, _T)),
    "LPAD": _Signature(_fn_lpad, TEXT, (_T, _N, _T), optional=1),
    "RPAD": _Signature(_fn_rpad, TEXT, (_T, _N, _T), optional=1),
    "INCLUDES": _Signature(_fn_includes, BOOLEAN, (_T, _T)),
    "ABS": _Signature(_fn_abs, NUMBER, (_N,)),
    "FLOOR": _Signature(_fn_floor, NUMBER, (_N,)),
    "CEILING": _Signature(_fn_ceiling, NUMBER, (_N,)),
    "ROUND": _Signature(_fn_round, NUMBER, (_N, _N)),
    "MOD": _Signature(_fn_mod, NUMBER, (_N, _N)),
    "SQRT": _Signature(_fn_sqrt, NUMBER, (_N,)),
    "EXP": _Signature(_fn_exp, NUMBER, (_N,)),
    "LN": _Signature(_fn_ln, NUMBER, (_N,)),
    "LOG": _Signature(_fn_log, NUMBER, (_N,)),
    "MAX": _Signature(_fn_max, NUMBER, (_N,), variadic=True),
    "MIN": _Signature(_fn_min, NUMBER, (_N,), variadic=True),
    "DATE": _Signature(_fn_date, DATE, (_N, _N, _N)),
    "YEAR": _Signature(_fn_year, NUMBER, (_D,)),
    "MONTH": _Signature(_fn_month, NUMBER, (_D,)),
    "DAY": _Signature(_fn_day, NUMBER, (_D,)),
    "WEEKDAY": _Signature(_fn_weekday, NUMBER, (_D,)),
    "DATEVALUE": _Signature(_fn_datevalue, DATE, (_DT,)),
    "DATETIMEVALUE": _Signature(_fn_datetimevalue, DATETIME, (_DT,)),
    "ADDMONTHS": _Signature(_fn_addmonths, DATE, (_D | {DATETIME}, _N)),
}

# Functions the compiler builds itself (laziness, context, field arguments): name -> arity.
_SPECIAL: dict[str, tuple[int, int | None]] = {
    "AND": (1, None), "OR": (1, None), "NOT": (1, 1), "IF": (3, 3), "CASE": (4, None),
    "BLANKVALUE": (2, 2), "NULLVALUE": (2, 2), "ISPICKVAL": (2, 2), "ISNEW": (0, 0),
    "ISCHANGED": (1, 1), "PRIORVALUE": (1, 1), "REGEX": (2, 2), "TODAY": (0, 0), "NOW": (0, 0),
}

#: Every function name the evaluator understands.
SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(_PURE) | frozenset(_SPECIAL)

# Globals that read as blank (the sandbox has no running user, profile or custom settings).
_BLANK_GLOBALS = {"$USER", "$PROFILE", "$USERROLE", "$PERMISSION", "$SETUP", "$ORGANIZATION",
                  "$LABEL", "$API", "$SYSTEM", "$CUSTOMMETADATA", "$ORIGINALUSER"}


def _describe(type_: str) -> str:
    return "Null" if type_ == ANY else type_


# --------------------------------------------------------------------------------------------
# Compiler
# --------------------------------------------------------------------------------------------

class _Compiler:
    """Walks a parse tree, checking it against ``obj`` and building the closure tree."""

    def __init__(self, text: str, obj: ObjectSpec | None) -> None:
        self.text = text
        self.obj = obj
        self.references: set[str] = set()

    # -- errors ---------------------------------------------------------------------------

    def error(self, message: str, line: int | None, column: int | None) -> FormulaError:
        return FormulaError(f"{message} at {_where(self.text, line, column)}", column)

    def error_at(self, message: str, item: Tree | Token) -> FormulaError:
        if isinstance(item, Token):
            return self.error(message, item.line, item.column)
        meta = item.meta
        return self.error(message, getattr(meta, "line", None), getattr(meta, "column", None))

    def expect(self, what: str, node: _Node, allowed: frozenset[str], where: Tree | Token) -> None:
        """Raise when ``node``'s static type is known and not one of ``allowed``."""
        if node.type == ANY or node.type in allowed:
            return
        wanted = " or ".join(sorted({_FAMILY[t] for t in allowed}))
        raise self.error_at(
            f"Incorrect parameter type for {what}. Expected {wanted}, received "
            f"{_describe(node.type)}", where)

    def same_family(self, what: str, first: _Node, other: _Node, where: Tree | Token) -> None:
        if first.type == ANY or other.type == ANY:
            return
        if _FAMILY[first.type] != _FAMILY[other.type]:
            raise self.error_at(
                f"Incorrect parameter type for {what}. Expected {_FAMILY[first.type]}, received "
                f"{_describe(other.type)}", where)

    # -- dispatch ---------------------------------------------------------------------------

    def compile(self, tree: Tree | Token) -> _Node:
        if isinstance(tree, Token):  # pragma: no cover - every token sits under a rule
            raise self.error_at(f"Unexpected {tree!s}", tree)
        handler = getattr(self, f"_{tree.data}")
        return handler(tree)

    # -- literals and references ----------------------------------------------------------------

    def _number(self, tree: Tree) -> _Node:
        text = str(tree.children[0])
        value: int | Decimal = Decimal(text) if "." in text else int(text)
        return _const(value, NUMBER)

    def _string(self, tree: Tree) -> _Node:
        return _const(_unescape(str(tree.children[0])[1:-1]), TEXT)

    def _ref(self, tree: Tree) -> _Node:
        names = [str(t) for t in tree.children]
        if len(names) == 1:
            keyword = names[0].upper()
            if keyword == "TRUE":
                return _const(True, BOOLEAN)
            if keyword == "FALSE":
                return _const(False, BOOLEAN)
            if keyword == "NULL":
                return _const(None, ANY, is_null=True)
        return self.reference(names, tree)

    def _global_ref(self, tree: Tree) -> _Node:
        names = [str(t) for t in tree.children]
        head = names[0].upper()
        if head == "$RECORDTYPE" and len(names) == 2:
            return self.reference(["RecordType", names[1]], tree)
        if head in _BLANK_GLOBALS:
            return _const(None, ANY)
        raise self.error_at(f"Unknown global variable '{names[0]}'", tree)

    def reference(self, names: list[str], tree: Tree) -> _Node:
        """A field (``Phone``) or a parent path (``Account.Industry``)."""
        obj = self.obj
        if len(names) > 1 and obj is not None and obj.relationship(names[0]) is None \
                and names[0].lower() == obj.name.lower():
            names = names[1:]  # "Contact.LastName" on Contact is LastName
        if len(names) == 1:
            return self.field_node(names[0], tree)
        return self.parent_node(names, tree)

    def field_node(self, name: str, tree: Tree) -> _Node:
        spec: FieldSpec | None = None
        if self.obj is not None:
            spec = self.obj.field(name)
            if spec is None:
                raise self.error_at(f"Unknown field '{name}' on {self.obj.name}", tree)
            name = spec.name
        type_ = _FIELD_TYPE.get(spec.type, ANY) if spec is not None else ANY
        self.references.add(name)
        read = _field_reader(name, _CONVERTERS[type_])
        ref = _FieldRef(name, read)
        return _Node(lambda ctx: read(ctx.record), type_, field=ref)

    def parent_node(self, names: list[str], tree: Tree) -> _Node:
        obj = self.obj
        first_field: str | None = None
        if obj is not None:
            spec = obj.relationship(names[0])
            if spec is None:
                plain = obj.field(names[0])
                if plain is not None:
                    raise self.error_at(
                        f"'{names[0]}' is a field, not a relationship, on {obj.name}", tree)
                raise self.error_at(f"Unknown relationship '{names[0]}' on {obj.name}", tree)
            names = [spec.relationship_name or names[0], *names[1:]]
            first_field = spec.name
        self.references.add(".".join(names))
        read = _parent_reader(names, first_field)
        return _Node(read, ANY)

    # -- operators ----------------------------------------------------------------------------

    def _unop(self, tree: Tree) -> _Node:
        op_token, operand_tree = tree.children
        operand = self.compile(operand_tree)
        op = str(op_token)
        if op == "!":
            self.expect("operator '!'", operand, _B, op_token)
            f = operand.fn
            node = _Node(lambda ctx: f(ctx) is not True, BOOLEAN)
        elif op == "-":
            self.expect("operator '-'", operand, _N, op_token)
            f = operand.fn
            node = _Node(lambda ctx: _negate(f(ctx)), NUMBER)
        else:
            self.expect("operator '+'", operand, _N, op_token)
            return operand
        if operand.const:
            return _const(node.fn(None), node.type)  # type: ignore[arg-type]
        return node

    def _binop(self, tree: Tree) -> _Node:
        """A chain of binary operators, compiled without recursing down its left spine.

        ``a + b - c & d`` parses as a left-deep tree; its evaluator is one loop that folds the
        right operands into an accumulator, so long formulas (Salesforce allows 3,900
        characters) neither overflow the stack nor pay one closure call per level.
        """
        spine: list[Tree] = []
        node: Tree | Token = tree
        while isinstance(node, Tree) and node.data == "binop":
            spine.append(node)
            node = node.children[0]
        current = self.compile(node)
        base = current
        steps: list[Step] = []
        for sub in reversed(spine):
            _, op_token, right_tree = sub.children
            right = self.compile(right_tree)
            type_, step = self.binary(str(op_token), current, right, op_token)
            if current.const and right.const:
                current = base = _const(step(current.value, None), type_)  # type: ignore[arg-type]
                steps = []
            else:
                current = _Node(_unreachable, type_)
                steps.append(step)
        if not steps:
            return current
        first = base.fn
        if len(steps) == 1:
            only = steps[0]
            return _Node(lambda ctx: only(first(ctx), ctx), current.type)
        chain_steps = tuple(steps)

        def chain(ctx: _Ctx) -> Any:
            value = first(ctx)
            for step in chain_steps:
                value = step(value, ctx)
            return value

        return _Node(chain, current.type)

    def binary(self, op: str, left: _Node, right: _Node, where: Token) -> tuple[str, Step]:
        """Check ``left op right`` and return its result type and its step: a function of the
        left operand's value (and the context, to evaluate the right operand lazily).

        Only ``left``'s static facts are used; its evaluator may be a placeholder.
        """
        what = f"operator '{op}'"
        rf = right.fn
        if op in ("&&", "||"):
            self.expect(what, left, _B, where)
            self.expect(what, right, _B, where)
            if op == "&&":
                return BOOLEAN, lambda acc, ctx: acc is True and rf(ctx) is True
            return BOOLEAN, lambda acc, ctx: acc is True or rf(ctx) is True
        if op in ("=", "==", "!=", "<>"):
            return BOOLEAN, self.equality(op, left, right, where)
        if op in ("<", "<=", ">", ">="):
            self.same_family(what, left, right, where)
            if left.type == BOOLEAN or right.type == BOOLEAN:
                raise self.error_at(f"Incorrect parameter type for {what}. Expected Number, "
                                    "Text, Date or DateTime, received Boolean", where)
            return BOOLEAN, _step(_ordering(op), rf)
        if op == "&":
            self.expect(what, left, _T, where)
            self.expect(what, right, _T, where)
            return TEXT, _step(_concat, rf)
        if op == "+":
            return self.plus_type(left, right, where), _step(_add, rf)
        if op == "-":
            return self.minus_type(left, right, where), _step(_sub, rf)
        self.expect(what, left, _N, where)
        self.expect(what, right, _N, where)
        return NUMBER, _step({"*": _mul, "/": _div, "^": _pow}[op], rf)

    def plus_type(self, left: _Node, right: _Node, where: Token) -> str:
        lt, rt = _FAMILY.get(left.type, ANY), _FAMILY.get(right.type, ANY)
        allowed = {(NUMBER, NUMBER): NUMBER, (TEXT, TEXT): TEXT, (DATE, NUMBER): DATE,
                   (NUMBER, DATE): DATE, (DATETIME, NUMBER): DATETIME, (NUMBER, DATETIME): DATETIME}
        return self.arith_type("+", allowed, lt, rt, where)

    def minus_type(self, left: _Node, right: _Node, where: Token) -> str:
        lt, rt = _FAMILY.get(left.type, ANY), _FAMILY.get(right.type, ANY)
        allowed = {(NUMBER, NUMBER): NUMBER, (DATE, NUMBER): DATE, (DATE, DATE): NUMBER,
                   (DATETIME, NUMBER): DATETIME, (DATETIME, DATETIME): NUMBER}
        return self.arith_type("-", allowed, lt, rt, where)

    def arith_type(self, op: str, allowed: dict[tuple[str, str], str], lt: str, rt: str,
                   where: Token) -> str:
        if lt != ANY and rt != ANY:
            if (lt, rt) not in allowed:
                raise self.error_at(f"Incorrect parameter type for operator '{op}'. Expected "
                                    f"Number, Date or DateTime, received {lt} and {rt}", where)
            return allowed[(lt, rt)]
        known = lt if lt != ANY else rt
        if known != ANY and not any(known in pair for pair in allowed):
            raise self.error_at(f"Incorrect parameter type for operator '{op}'. Expected Number, "
                                f"Date or DateTime, received {known}", where)
        if known == TEXT and op == "+":
            return TEXT
        return ANY

    def equality(self, op: str, left: _Node, right: _Node, where: Token) -> Step:
        """The step of ``=``/``<>``; against the NULL literal they test blankness."""
        negate = op in ("!=", "<>")
        rf = right.fn
        if left.is_null:
            if negate:
                return lambda acc, ctx: not _is_blank(rf(ctx))
            return lambda acc, ctx: _is_blank(rf(ctx))
        if right.is_null:
            if negate:
                return lambda acc, ctx: not _is_blank(acc)
            return lambda acc, ctx: _is_blank(acc)
        self.same_family(f"operator '{op}'", left, right, where)
        hint = left.type in _TEXTISH or right.type in _TEXTISH
        compare = _not_equal if negate else _equal
        return lambda acc, ctx: compare(acc, rf(ctx), hint)

    # -- functions ----------------------------------------------------------------------------

    def _call(self, tree: Tree) -> _Node:
        name_token, args_tree = tree.children
        name = str(name_token).upper()
        arg_trees = list(args_tree.children) if args_tree is not None else []
        signature = _PURE.get(name)
        if signature is None and name not in _SPECIAL:
            raise self.error_at(f"Unknown function '{str(name_token)}'", name_token)
        if signature is not None:
            most = None if signature.variadic else len(signature.params)
            least = len(signature.params) - signature.optional
        else:
            least, most = _SPECIAL[name]
        count = len(arg_trees)
        if count < least or (most is not None and count > most):
            if most is None:
                expected = f"at least {least}"
            elif least == most:
                expected = str(least)
            else:
                expected = f"{least} to {most}"
            raise self.error_at(f"Incorrect number of parameters for function '{name}()'. "
                                f"Expected {expected}, received {count}", name_token)
        args = [self.compile(t) for t in arg_trees]
        if signature is not None:
            for index, arg in enumerate(args):
                allowed = signature.params[min(index, len(signature.params) - 1)]
                self.expect(f"function '{name}()'", arg, allowed, arg_trees[index])
            return _pure(signature.impl, signature.result, args)
        builder = getattr(self, f"_fn_{name.lower()}")
        return builder(name, args, arg_trees, name_token)

    def _fn_and(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        for arg, tree in zip(args, trees):
            self.expect(f"function '{name}()'", arg, _B, tree)
        fns = tuple(a.fn for a in args)
        if name == "AND":
            return _Node(lambda ctx: all(f(ctx) is True for f in fns), BOOLEAN)
        return _Node(lambda ctx: any(f(ctx) is True for f in fns), BOOLEAN)

    _fn_or = _fn_and

    def _fn_not(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        self.expect("function 'NOT()'", args[0], _B, trees[0])
        f = args[0].fn
        if args[0].const:
            return _const(args[0].value is not True, BOOLEAN)
        return _Node(lambda ctx: f(ctx) is not True, BOOLEAN)

    def _fn_if(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        condition, then, otherwise = args
        self.expect("function 'IF()'", condition, _B, trees[0])
        self.same_family("function 'IF()'", then, otherwise, trees[2])
        type_ = then.type if then.type != ANY else otherwise.type
        cf, tf, of = condition.fn, then.fn, otherwise.fn
        return _Node(lambda ctx: tf(ctx) if cf(ctx) is True else of(ctx), type_)

    def _fn_case(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        if len(args) % 2:
            raise self.error_at("Incorrect number of parameters for function 'CASE()'. Expected "
                                f"an even number, received {len(args)}", at)
        subject, default = args[0], args[-1]
        pairs = [(args[i], args[i + 1]) for i in range(1, len(args) - 1, 2)]
        results = [result for _, result in pairs] + [default]
        type_ = next((r.type for r in results if r.type != ANY), ANY)
        first = next((r for r in results if r.type != ANY), default)
        for index in range(1, len(args) - 1, 2):
            self.same_family("function 'CASE()'", subject, args[index], trees[index])
            self.same_family("function 'CASE()'", first, args[index + 1], trees[index + 1])
        self.same_family("function 'CASE()'", first, default, trees[-1])
        hint = subject.type in _TEXTISH or any(v.type in _TEXTISH for v, _ in pairs)
        sf, df = subject.fn, default.fn
        branches = tuple((v.fn, r.fn) for v, r in pairs)

        def case(ctx: _Ctx) -> Any:
            value = sf(ctx)
            for match, result in branches:
                if _equal(value, match(ctx), hint):
                    return result(ctx)
            return df(ctx)

        return _Node(case, type_)

    def _fn_blankvalue(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        value, substitute = args
        self.same_family(f"function '{name}()'", value, substitute, trees[1])
        type_ = value.type if value.type != ANY else substitute.type
        vf, sf = value.fn, substitute.fn
        if name == "BLANKVALUE":
            def pick(ctx: _Ctx) -> Any:
                v = vf(ctx)
                return sf(ctx) if v is None or v == "" else v
        else:
            def pick(ctx: _Ctx) -> Any:
                v = vf(ctx)
                return sf(ctx) if v is None else v
        return _Node(pick, type_)

    _fn_nullvalue = _fn_blankvalue

    def _fn_ispickval(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        field, value = args
        if field.type not in (PICKLIST, ANY):
            raise self.error_at("Incorrect parameter type for function 'ISPICKVAL()'. Expected "
                                f"Picklist, received {_describe(field.type)}", trees[0])
        self.expect("function 'ISPICKVAL()'", value, _T, trees[1])
        return _pure(lambda a, b: ("" if a is None else _str(a)) == ("" if b is None else _str(b)),
                     BOOLEAN, args)

    def _fn_isnew(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        return _Node(lambda ctx: bool(ctx.is_new), BOOLEAN)

    def field_argument(self, name: str, arg: _Node, tree: Tree) -> _FieldRef:
        if arg.field is None:
            raise self.error_at(f"Function '{name}()' needs a field of this object as its "
                                "parameter", tree)
        return arg.field

    def _fn_ischanged(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        ref = self.field_argument(name, args[0], trees[0])
        read = ref.read

        def changed(ctx: _Ctx) -> bool:
            if ctx.is_new or ctx.prior is None:
                return False
            return not _same(read(ctx.record), read(ctx.prior))

        return _Node(changed, BOOLEAN)

    def _fn_priorvalue(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        ref = self.field_argument(name, args[0], trees[0])
        read = ref.read

        def prior(ctx: _Ctx) -> Any:
            if ctx.is_new or ctx.prior is None:
                return read(ctx.record)  # on create, PRIORVALUE is the current value
            return read(ctx.prior)

        return _Node(prior, args[0].type)

    def _fn_regex(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        text, pattern = args
        self.expect("function 'REGEX()'", text, _T, trees[0])
        self.expect("function 'REGEX()'", pattern, _T, trees[1])
        if pattern.const:
            compiled = _compile_regex(_str(pattern.value))
            if compiled is None:
                raise self.error_at(f"Invalid regular expression {_str(pattern.value)!r}", trees[1])
            match = compiled.fullmatch
            if text.const:
                return _const(match(_str(text.value)) is not None, BOOLEAN)
            tf = text.fn
            return _Node(lambda ctx: match(_str(tf(ctx))) is not None, BOOLEAN)

        def regex(subject: Any, source: Any) -> bool:
            compiled = _compile_regex(_str(source))
            return compiled is not None and compiled.fullmatch(_str(subject)) is not None

        return _Node(_apply(regex, args), BOOLEAN)

    def _fn_today(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        return _Node(lambda ctx: ctx.now().date(), DATE)

    def _fn_now(self, name: str, args: list[_Node], trees: list[Tree], at: Token) -> _Node:
        return _Node(lambda ctx: ctx.now(), DATETIME)


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _unescape(body: str) -> str:
    """Resolve the backslash escapes of a string literal; unknown ones (``\\d``) are kept."""
    if "\\" not in body:
        return body

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, "\\" + code)

    return _ESCAPE_RE.sub(replace, body)


def _field_reader(name: str, convert: Callable[[Any], Any]) -> Callable[[dict[str, Any]], Any]:
    """Read field ``name`` (case-insensitively) from a row and convert it to its type."""
    lname = name.lower()

    def read(row: dict[str, Any]) -> Any:
        value = row.get(name, _MISSING)
        if value is _MISSING:
            value = _ci_get(row, name, lname)
        if value is None:
            return convert(None) if convert is _to_boolean else None
        return convert(value)

    return read


def _guess_id_field(relationship: str) -> str:
    """The reference field behind a relationship name: ``Foo__r`` -> ``Foo__c``, ``Owner`` ->
    ``OwnerId`` (used below the first level, where the parent's schema is not known)."""
    if relationship.lower().endswith("__r"):
        return relationship[:-3] + "__c"
    return relationship + "Id"


def _parent_reader(names: list[str], first_field: str | None) -> Evaluator:
    """Follow ``names[:-1]`` relationships from the record and read ``names[-1]``.

    A row may carry the parent itself under the relationship name (as SOQL results do);
    otherwise the reference field's id is handed to the resolver.  Without a schema for the
    record (``first_field`` is ``None``) only embedded parents are followed.
    """
    hops = []
    for index, rel in enumerate(names[:-1]):
        id_field = first_field if index == 0 else _guess_id_field(rel)
        hops.append((rel, rel.lower(), id_field, id_field.lower() if id_field else None))
    leaf, lleaf = names[-1], names[-1].lower()

    def read(ctx: _Ctx) -> Any:
        row: Any = ctx.record
        for rel, lrel, id_field, lid in hops:
            embedded = _ci_get(row, rel, lrel)
            if isinstance(embedded, dict):
                row = embedded
                continue
            if id_field is None or ctx.resolve is None:
                return None
            record_id = _ci_get(row, id_field, lid)  # type: ignore[arg-type]
            if not record_id:
                return None
            row = ctx.parent(id_field, str(record_id))
            if row is None:
                return None
        return _to_plain(_ci_get(row, leaf, lleaf))

    return read


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

class Formula:
    """A compiled formula.  Immutable and thread-safe: compile once, evaluate many times.

    Attributes:
        text: the formula source.
        object_name: the object it was checked against, or ``None``.
        result_type: the static result type (``"Boolean"``, ``"Number"``, ``"Text"``,
            ``"Picklist"``, ``"Date"``, ``"DateTime"``, or ``"Any"`` when unknown).
    """

    __slots__ = ("text", "object_name", "result_type", "_fn", "_references")

    def __init__(self, text: str, object_name: str | None, result_type: str, fn: Evaluator,
                 references: frozenset[str]) -> None:
        self.text = text
        self.object_name = object_name
        self.result_type = result_type
        self._fn = fn
        self._references = references

    def evaluate(self, record: dict[str, Any], *, prior: dict[str, Any] | None = None,
                 is_new: bool = True,
                 resolve_parent: Callable[[str, str], dict | None] | None = None,
                 now: datetime | None = None) -> Any:
        """Evaluate against ``record`` (the complete row as it would be saved).

        Args:
            record: field name -> JSON-native value; names match case-insensitively and a
                missing field reads as blank.
            prior: the complete row before this update (ISCHANGED, PRIORVALUE); ``None`` on
                insert.
            is_new: whether the record is being inserted (ISNEW; ISCHANGED is FALSE then).
            resolve_parent: ``(reference_field_name, id) -> parent row or None`` for paths
                such as ``Account.Industry``; called at most once per parent per evaluation.
            now: the instant TODAY() and NOW() use (default: the current UTC time).

        Returns:
            The value, JSON-native (decimals as ``int``/``float``, dates as ISO strings).
        """
        return _export(self._fn(_Ctx(record, prior, is_new, resolve_parent, now)))

    def referenced_fields(self) -> set[str]:
        """Field names (``Phone``) and parent paths (``Account.Industry``) the formula reads,
        in the schema's spelling when it was compiled against an object."""
        return set(self._references)

    def __repr__(self) -> str:
        target = f" on {self.object_name}" if self.object_name else ""
        return f"Formula({self.text!r}{target})"


def compile_formula(text: str, obj: ObjectSpec | None = None) -> Formula:
    """Parse and check ``text``; with ``obj``, field references are validated against it
    (:class:`FormulaError` for unknown fields and relationships, or operand types that do not
    fit) and canonicalised.

    Raises:
        FormulaError: on a syntax error, unknown field/relationship/function/global, a wrong
            number or type of arguments, or an invalid constant regular expression.
    """
    tree = _parse(text)
    compiler = _Compiler(text, obj)
    try:
        node = compiler.compile(tree)
    except RecursionError:
        raise FormulaError("The formula nests functions too deeply") from None
    return Formula(text, obj.name if obj is not None else None, node.type, node.fn,
                   frozenset(compiler.references))


def is_true(value: Any) -> bool:
    """Whether a validation rule with this result fires: only a TRUE result does (blank,
    FALSE and non-boolean values do not)."""
    return value is True
