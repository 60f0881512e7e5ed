"""Masking personal data while copying: rules per field, a deterministic masker, suggestions, the secret.

A template's object line may carry ``"mask": {"Email": {"kind": "email"}, "Phone": {"kind": "keep_last", "n": 4}}``
and the template option ``mask_locale`` (Faker's locale, ``en_US`` by default). The engine's one transform step
(engine/run/first_pass.py) replaces each masked field's value before it leaves the desktop, so the target, the
journal, the logs and the error export only ever see masked values.

Determinism: the bytes of keyed BLAKE2b-512 of the kind and the source value, with the secret as the key, make every
choice of the fake value (which name, street suffix, phone format and digits of the locale's Faker lists), so the
same source value becomes the same masked value in every run, process, object and field of the same kind (a delta
sync or a resync changes nothing that did not change in the source). Values change if Faker's lists for the locale
change (a Faker upgrade). The secret is made per template on first use and kept in the OS keyring only
(:func:`template_secret`; ``isyncsf mask-secret export|import`` shares it).

Speed (issue 25: masking 200k records adds at most 10% to a sync): a value costs one keyed BLAKE2b (a copy of a
state made once per field) and, for a fake kind, one shape of the Faker method flattened once per locale
(:meth:`_Locale.program`: per shape of its formats, one function reading its slots' indexes from the digest with one
:mod:`struct` unpack and joining texts and table entries in one f-string), not a walk of Faker's formats per value;
a fake kind whose value the field takes as it is (not unique) is one function with its cache inline.

Target fields are respected: the value is cut to the field's length (an email keeps its ``@domain``), a unique
field or a match key gets a stable hash suffix so two different source values never become one masked value, and
rules that cannot fit (a fake kind the field's type cannot hold, a field too short for it, ``blank`` on a required
field or a match key) are refused when the plan is built (:func:`check_rule`).

A masked match key is matched on its masked value: the source record's key is masked the same way and compared to
the target's value (which an earlier run wrote masked). A parent path such as ``Contact.Email`` is masked with the
rule of that field on the parent's line.

The GUI's Masking panel uses :data:`KINDS`, :class:`MaskRule`, :func:`parse_rules`, :func:`check_rule`,
:func:`suggest_masking` and :meth:`Masker.value` (a preview of one value).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import itertools
import logging
import math
import operator
import re
import secrets as _random
import string
import struct
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LOCALE = "en_US"

KINDS: dict[str, str] = {
    "keep": "Keep (not masked)",
    "blank": "Blank",
    "fixed": "Fixed value",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "Email",
    "phone": "Phone",
    "street": "Street",
    "city": "City",
    "postal_code": "Postal code",
    "company": "Company",
    "text": "Free text",
    "date_shift": "Date shifted by a stable number of days",
    "number": "Number within ± a percentage",
    "hash": "Stable pseudonym (hash)",
    "keep_last": "Keep the last N characters",
}
"""Every masking kind, with its label for people."""

PARAMS: dict[str, dict[str, Any]] = {"fixed": {"value": None}, "keep_last": {"n": 4}, "date_shift": {"days": 30},
                                     "number": {"percent": 10}}
"""The parameters each kind takes, with their defaults."""

FAKE_KINDS = {"first_name", "last_name", "full_name", "email", "phone", "street", "city", "postal_code", "company",
              "text", "hash"}
TEXT_TYPES = {"string", "textarea", "encryptedstring", "combobox"}
_FITS: dict[str, set[str]] = {
    **{kind: TEXT_TYPES for kind in ("first_name", "last_name", "full_name", "street", "city", "postal_code",
                                     "company", "text", "hash")},
    "email": TEXT_TYPES | {"email"},
    "phone": TEXT_TYPES | {"phone"},
    "keep_last": TEXT_TYPES | {"phone", "email"},
    "date_shift": {"date", "datetime"},
    "number": {"double", "currency", "percent", "int", "long"},
}
UNMASKABLE_TYPES = {"reference", "id", "address", "location", "base64", "anyType", "complexvalue"}
SUFFIX_CHARS = 10          # base32 characters of the uniqueness suffix: 50 bits, no collision in millions
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")   # reserved domains: no masked mail reaches anyone
_MIN_LENGTH = {"email": 16, "hash": 8, "postal_code": 4, "phone": 7}

SECRET_NAME = "mask_secret"
SECRET_PREFIX = "isyncsf-mask-secret-v1:"


class MaskRuleError(ValueError):
    """A masking rule that cannot be used; the message names the field and why."""


@dataclass(frozen=True)
class MaskRule:
    """How one field is masked: ``kind`` (a key of :data:`KINDS`) and its parameters."""

    field: str
    kind: str
    params: dict[str, Any] = _field(default_factory=dict, hash=False, compare=True)
    reason: str = _field(default="", compare=False)   # why :func:`suggest_masking` proposed it

    def param(self, name: str) -> Any:
        return self.params.get(name, PARAMS.get(self.kind, {}).get(name))

    def as_json(self) -> dict[str, Any]:
        """The rule as a template stores it: ``{"kind": "keep_last", "n": 4}``."""
        return {"kind": self.kind, **self.params}


# ---------------------------------------------------------------------------------------------- rules
def parse_rule(field_name: str, raw: Any) -> MaskRule:
    """One field's rule from the template (``{"kind": "email"}``); raises :class:`MaskRuleError`."""
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        raise MaskRuleError(f"{field_name}: a rule is {{\"kind\": \"email\"}} (kinds: {', '.join(KINDS)})")
    kind = raw["kind"].strip()
    if kind not in KINDS:
        raise MaskRuleError(f"{field_name}: unknown masking kind {kind!r}; kinds: {', '.join(KINDS)}")
    allowed = set(PARAMS.get(kind, {}))
    unknown = set(raw) - {"kind"} - allowed
    if unknown:
        raise MaskRuleError(f"{field_name}: {kind} takes no {', '.join(sorted(unknown))}"
                            + (f" (only {', '.join(sorted(allowed))})" if allowed else ""))
    params = {k: v for k, v in raw.items() if k != "kind"}
    if kind == "fixed":
        if "value" not in params or not isinstance(params["value"], (str, int, float, bool)):
            raise MaskRuleError(f"{field_name}: fixed needs a \"value\" (a text, number or true/false)")
    if kind == "keep_last":
        n = params.get("n", 4)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 20:
            raise MaskRuleError(f"{field_name}: keep_last \"n\" must be a whole number from 1 to 20")
    if kind == "date_shift":
        days = params.get("days", 30)
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
            raise MaskRuleError(f"{field_name}: date_shift \"days\" must be a whole number from 1 to 3650")
    if kind == "number":
        percent = params.get("percent", 10)
        if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not 0 < percent <= 100:
            raise MaskRuleError(f"{field_name}: number \"percent\" must be above 0 and at most 100")
    return MaskRule(field_name, kind, params)


def parse_rules(raw: Any, *, fields: Iterable[str] | None = None, match_by: Iterable[str] | None = None
                ) -> dict[str, MaskRule]:
    """A line's ``mask`` object: field -> rule (``keep`` rules dropped). ``fields``: the line's field list, when it
    has one (a rule on another field is refused); ``match_by``: its match key. Raises :class:`MaskRuleError`."""
    if not isinstance(raw, dict):
        raise MaskRuleError("mask must be an object of field -> rule, e.g. {\"Email\": {\"kind\": \"email\"}}")
    listed = {f.lower() for f in fields} if fields is not None else None
    keys = {k.lower() for k in match_by or () if "." not in k}
    out: dict[str, MaskRule] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,79}$", name.strip()):
            raise MaskRuleError(f"{name!r} is not a field's API name (e.g. Email, SSN__c)")
        name = name.strip()
        if name.lower() in {k.lower() for k in out}:
            raise MaskRuleError(f"{name}: listed twice")
        rule = parse_rule(name, value)
        if listed is not None and name.lower() not in listed:
            raise MaskRuleError(f"{name}: not a field of this line (add it to \"fields\" or remove its rule)")
        if rule.kind == "keep":
            continue
        if name.lower() in keys:
            _check_key_rule(rule)
        out[name] = rule
    return out


def _check_key_rule(rule: MaskRule) -> None:
    if rule.kind not in FAKE_KINDS:
        raise MaskRuleError(f"{rule.field}: {rule.kind} on a match key would make matching impossible (records "
                            "could no longer be told apart); use a fake kind or hash, which keep it unique")


def check_rule(rule: MaskRule, meta: Mapping[str, Any], *, match_key: bool = False) -> str | None:
    """Why ``rule`` cannot mask the target field described by ``meta`` (a describe's field), or None when it can."""
    ftype = str(meta.get("type", "string"))
    length = int(meta.get("length") or 0)
    unique = bool(meta.get("unique")) or match_key
    what = "a match key" if match_key else "a unique field"
    if ftype in UNMASKABLE_TYPES or ftype == "boolean" and rule.kind != "fixed":
        return f"{rule.field} is a {ftype} field: it cannot be masked"
    if rule.kind == "blank":
        required = meta.get("createable") and not meta.get("nillable", True) and not meta.get("defaultedOnCreate")
        if required:
            return f"{rule.field} is required in the target org: blank would fail every record"
        if match_key:
            return f"{rule.field} is a match key: blank would make matching impossible"
        return None
    if rule.kind == "fixed":
        if unique:
            return f"{rule.field} is {what}: one fixed value for every record would collide"
        value = rule.param("value")
        if ftype in TEXT_TYPES | {"email", "phone", "url"} and length and len(str(value)) > length:
            return f"{rule.field} holds at most {length} characters; the fixed value has {len(str(value))}"
        return None
    fits = _FITS.get(rule.kind, set())
    if ftype not in fits:
        return f"{rule.kind} does not fit {rule.field}, a {ftype} field (it fits {', '.join(sorted(fits))})"
    if unique and rule.kind not in FAKE_KINDS:
        return f"{rule.field} is {what}: {rule.kind} could give two records one value; use a fake kind or hash"
    if ftype in TEXT_TYPES | {"email", "phone"} and length:
        need = _MIN_LENGTH.get(rule.kind, 1) + (SUFFIX_CHARS + 1 if unique and rule.kind != "hash" else 0)
        if rule.kind == "keep_last":
            need = int(rule.param("n"))
        if length < need:
            return f"{rule.field} holds only {length} characters: too short for {rule.kind} (needs {need})"
    return None


def target_spec(rule: MaskRule, meta: Mapping[str, Any], *, match_key: bool = False) -> dict[str, Any]:
    """What a plan keeps of ``rule`` and its target field, for :meth:`Masker.value` (JSON)."""
    return {**rule.as_json(), "type": meta.get("type", "string"), "length": int(meta.get("length") or 0),
            "unique": bool(meta.get("unique")) or match_key, "scale": meta.get("scale")}


# ---------------------------------------------------------------------------------------------- the masker
def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class _Draw:
    """The choices of one masked value read step by step from its digest (extended by SHA-256 when a value needs
    more): free text, and the rare formats :meth:`_Locale.program` cannot flatten. The same digest always makes the
    same choices, in any process."""

    __slots__ = ("data", "pos")

    def __init__(self, digest: bytes):
        self.data = digest
        self.pos = 0

    def bytes(self, count: int) -> bytes:
        start = self.pos
        end = self.pos = start + count
        while end > len(self.data):
            self.data += hashlib.sha256(self.data).digest()
        return self.data[start:end]

    def take(self, count: int) -> int:
        return int.from_bytes(self.bytes(count), "big")

    def pick(self, items: tuple[Any, ...]) -> Any:
        """One of ``items``, chosen by the next three bytes (as one big-endian number)."""
        start = self.pos
        self.pos = start + 3
        data = self.data
        while start + 3 > len(data):
            data = self.data = data + hashlib.sha256(data).digest()
        return items[(data[start] << 16 | data[start + 1] << 8 | data[start + 2]) % len(items)]

    def fill(self, patterns: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]) -> str:
        """One of ``patterns`` (:func:`_pattern`), picked, with one byte of the draw for each placeholder."""
        text, tables = self.pick(patterns)
        if not tables:
            return text
        return text.format(*[table[byte] for table, byte in zip(tables, self.bytes(len(tables)))])


_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Faker's numerify placeholders (``#`` a digit, ``%`` 1-9, ``$`` 2-9, ``!`` a digit or nothing, ``@`` 1-9 or
# nothing) and bothify's ``?`` (a letter): what each byte value (0-255) becomes
_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "#": tuple(_DIGITS[b % 10] for b in range(256)),
    "%": tuple(_DIGITS[1 + b % 9] for b in range(256)),
    "$": tuple(_DIGITS[2 + b % 8] for b in range(256)),
    "!": tuple(_DIGITS[b % 10] if b & 128 else "" for b in range(256)),
    "@": tuple(_DIGITS[1 + b % 9] if b & 128 else "" for b in range(256)),
}
_LETTER_TABLE = tuple(_LETTERS[b % 52] for b in range(256))


def _pattern(text: str, letters: bool) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """A numerify (or, with ``letters``, bothify) pattern made ready to fill: a format string with a ``{}`` per
    placeholder, and the table of each placeholder."""
    out: list[str] = []
    tables: list[tuple[str, ...]] = []
    for char in text:
        table = _LETTER_TABLE if letters and char == "?" else _PLACEHOLDERS.get(char)
        if table is None:
            out.append("{{" if char == "{" else "}}" if char == "}" else char)
        else:
            out.append("{}")
            tables.append(table)
    return "".join(out), tuple(tables)


_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_FAKER_METHOD = {"phone": "phone_number", "street": "street_address", "city": "city", "postal_code": "postcode",
                 "company": "company"}
_CACHE_SIZE = 16_384       # masked values kept per field function (then it starts again): memory stays flat
_DIGEST_SIZE = 64          # keyed BLAKE2b's longest digest: bytes 0-47 make the choices, 54-63 the suffix
_CHOICES = 48              # the bytes of the digest a fake value's choices may read
_WIDE = 65_536             # a list picked by two bytes of the digest is repeated to this many entries
_MAX_SHAPES = 1_024        # a Faker method with more shapes than this (formats of formats) is drawn step by step


class _Seeded(dict[int, str]):
    """Faker's ``name`` seeded with the index, made on first use: a provider method that is more than picks from
    lists (e.g. en_US postcodes) as a table of 65,536 values, each asked of Faker at most once per process."""

    def __init__(self, locale: _Locale, name: str):
        super().__init__()
        self.locale = locale
        self.name = name

    def __missing__(self, index: int) -> str:
        value = self[index] = self.locale.faker(self.name, index)
        return value


class _Locale:
    """What a Faker locale gives masking, made once per locale and shared by every :class:`Masker` (none of it
    depends on the secret): its Faker instance (seeded, under the lock, only for the rare provider methods that are
    more than picks from lists), its name lists, how each provider method used is made from lists (:meth:`rule`)
    and, flattened from those rules, the function making the method's value from a digest (:meth:`program`)."""

    def __init__(self, locale: str):
        from faker import Faker

        # unweighted choices: several times faster, and a masked value need not follow name frequencies
        self.fake = Faker(locale, use_weighting=False)
        self.lock = threading.Lock()
        self.rules: dict[str, tuple[str, Any]] = {}
        self.programs: dict[str, Callable[[bytes], str] | None] = {}
        self._wide: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._seeded: dict[str, _Seeded] = {}
        self.firsts = self._names("first_names")
        self.lasts = self._names("last_names")
        # the names as an email's local part takes them (ASCII, lower case, letters, digits and dots)
        self.firsts_email = [_email_part(n) for n in self.firsts]
        self.lasts_email = [_email_part(n) for n in self.lasts]

    def _names(self, attribute: str) -> list[str]:
        """The locale's list of first or last names (picked from directly: faster than a seeded Faker)."""
        for provider in self.fake.providers:
            names = getattr(provider, attribute, None)
            if isinstance(names, (dict, list, tuple)) and names:
                return [str(n) for n in names]
        return []

    def faker(self, name: str, seed: int, **kwargs: Any) -> str:
        """Faker's ``name`` seeded with ``seed``."""
        with self.lock:
            self.fake.seed_instance(seed)
            return str(getattr(self.fake, name)(**kwargs))

    def wide(self, items: Iterable[str]) -> tuple[str, ...]:
        """``items`` repeated to 65,536 entries, so that two bytes of a digest pick one with no arithmetic (the
        first ``65,536 mod len`` items come once more often than the others: a few percent at most)."""
        items = tuple(items)
        made = self._wide.get(items)
        if made is None:
            made = self._wide[items] = (items * (_WIDE // len(items) + 1))[:_WIDE]
        return made

    def rule(self, name: str) -> tuple[str, Any]:
        """How to make Faker's ``name`` from lists (kept once found): its provider method's shape, read from its
        code (``return self.random_element(self.street_suffixes)`` is a pick from that list;
        ``...generator.parse(...)`` a format of further tokens; ``numerify``/``bothify`` a pattern). Anything else
        is Faker's (seeded)."""
        found = self.rules.get(name)
        if found is None:
            found = self.rules[name] = self._rule(name)
        return found

    def _rule(self, name: str) -> tuple[str, Any]:
        method = getattr(self.fake, name, None)
        function = getattr(method, "__func__", None)
        provider = getattr(method, "__self__", None)
        code = getattr(function, "__code__", None)
        if code is None or code.co_argcount != 1 or code.co_kwonlyargcount \
                or any(c is not None and c != function.__doc__ for c in code.co_consts):
            return ("faker", None)
        names = set(code.co_names)
        shapes = {frozenset({"random_element"}): "list", frozenset({"random_element", "generator", "parse"}): "formats",
                  frozenset({"numerify", "random_element"}): "numerify",
                  frozenset({"bothify", "random_element"}): "bothify",
                  frozenset({"bothify", "random_element", "upper"}): "bothify_upper"}
        for shape, how in shapes.items():
            rest = names - shape
            if not shape <= names or len(rest) != 1:
                continue
            items = getattr(provider, next(iter(rest)), None)
            if isinstance(items, (set, frozenset)):
                items = sorted(items)                      # a set's order differs between processes
            if not isinstance(items, (dict, list, tuple)) or not items \
                    or not all(isinstance(item, str) for item in items):
                return ("faker", None)
            items = tuple(items)
            if how == "formats":
                if any("{{" in item and not _TOKEN.search(item) for item in items) or \
                        any(":" in token for item in items for token in re.findall(r"\{\{([^}]*)\}\}", item)):
                    return ("faker", None)
                return (how, tuple(tuple(part if index % 2 == 0 else (part,)
                                         for index, part in enumerate(_TOKEN.split(item)) if part)
                                   for item in items))
            patterns = tuple(_pattern(item, letters=how != "numerify") for item in items)
            return ("fill_upper" if how == "bothify_upper" else "fill", patterns)
        return ("faker", None)

    def program(self, name: str) -> Callable[[bytes], str] | None:
        """Faker's ``name`` as a function of a digest (None when it cannot be flattened: a format naming itself,
        too many shapes, or more choices than the digest's bytes). Its formats are flattened once into *shapes*:
        texts and slots, each slot a table (a name list, the combinations of a run of digits or letters, a seeded
        Faker table) whose index is read from the digest; two bytes of the digest pick the shape (each shape as often
        as Faker would make it), and each shape is one function (:func:`_shape`): one unpack and one f-string."""
        if name not in self.programs:
            self.programs[name] = self._program(name)
        return self.programs[name]

    def _program(self, name: str) -> Callable[[bytes], str] | None:
        shapes = self._flat(name, ())
        if not shapes:
            return None
        made: list[tuple[float, Callable[[bytes], str]]] = []
        for share, parts in shapes:
            shape = _shape(parts)
            if shape is None:
                return None
            made.append((share, shape))
        if len(made) == 1:
            return made[0][1]
        # 65,536 entries, each shape in as many as its share of Faker's values: two bytes of the digest pick one
        bounds = list(itertools.accumulate(share for share, _ in made))
        last = len(made) - 1
        by_bytes = tuple(made[min(bisect.bisect_right(bounds, (index + 0.5) / _WIDE), last)][1]
                         for index in range(_WIDE))
        return lambda digest: by_bytes[digest[0] << 8 | digest[1]](digest)

    def _run(self, run: list[tuple[str, ...]]) -> list[tuple[tuple[str, ...], str]]:
        """The placeholders of ``run`` (``####``, emptied) as one slot: every combination of their digits or
        letters, picked by two bytes (one byte for a lone placeholder)."""
        if not run:
            return []
        tables = [tuple(dict.fromkeys(table)) for table in run]
        slot = (run[0], "B") if len(run) == 1 else (self.wide("".join(chars) for chars in itertools.product(*tables)),
                                                   "H")
        run.clear()
        return [slot]

    def _flat(self, name: str, within: tuple[str, ...]) -> list[tuple[float, tuple[Any, ...]]] | None:
        """The shapes of Faker's ``name``: (share of the values, parts), each part a text or a slot (its table and
        the :mod:`struct` code of its index); None when it cannot be flattened."""
        if name in within or len(within) > 8:
            return None
        how, data = self.rule(name)
        if how == "list":
            return [(1.0, (data[0],) if len(data) == 1 else ((self.wide(data), "H"),))]
        if how == "faker":
            seeded = self._seeded.get(name)
            if seeded is None:
                seeded = self._seeded[name] = _Seeded(self, name)
            return [(1.0, ((seeded, "H"),))]
        if how in ("fill", "fill_upper"):
            upper = how == "fill_upper"
            out: list[tuple[float, tuple[Any, ...]]] = []
            plain = tuple(text.format().upper() if upper else text.format() for text, tables in data if not tables)
            if plain:       # the patterns without placeholders (a list of names, say): one pick from them
                out.append((len(plain) / len(data), (plain[0],) if len(plain) == 1 else ((self.wide(plain), "H"),)))
            for text, tables in data:
                if not tables:
                    continue
                parts: list[Any] = []
                slots = iter(tables)
                run: list[tuple[str, ...]] = []
                for literal, slot, _, _ in _FORMATTER.parse(text):
                    if literal:
                        parts.extend(self._run(run))
                        parts.append(literal.upper() if upper else literal)
                    if slot is not None:
                        table = next(slots)
                        table = tuple(t.upper() for t in table) if upper else table
                        if "" in table:         # a digit or nothing: a slot of its own
                            parts.extend(self._run(run))
                            parts.append((table, "B"))
                        else:
                            if math.prod(len(set(t)) for t in (*run, table)) > _WIDE:
                                parts.extend(self._run(run))
                            run.append(table)
                parts.extend(self._run(run))
                out.append((1 / len(data), tuple(parts)))
            return out
        out = []
        for form in data:
            shapes: list[tuple[float, tuple[Any, ...]]] = [(1 / len(data), ())]
            for part in form:
                if isinstance(part, str):
                    shapes = [(share, done + (part,)) for share, done in shapes]
                    continue
                inner = self._flat(part[0], (*within, name))
                if inner is None or len(shapes) * len(inner) > _MAX_SHAPES:
                    return None
                shapes = [(share * more, done + parts) for share, done in shapes for more, parts in inner]
            out.extend(shapes)
            if len(out) > _MAX_SHAPES:
                return None
        return out


_FORMATTER = string.Formatter()


def _shape(parts: tuple[Any, ...]) -> Callable[[bytes], str] | None:
    """One shape of a flattened Faker method (texts, and slots of a table and a :mod:`struct` code) as a function of
    the digest: one unpack of the slots' indexes (after the two bytes that pick the shape) and one f-string, which
    is three times faster than ``str.format`` over a ``map``. The function is compiled from source that holds names
    only (``t1``, ``s2[i0]``): the texts and tables are its globals, so nothing of the locale's data is parsed as code.
    None when the slots need more bytes than the digest gives for choices."""
    names: dict[str, Any] = {}
    body: list[str] = []
    indexes: list[str] = []
    codes = ">"
    for part in parts:
        key = f"x{len(names)}"
        if isinstance(part, str):
            names[key] = part
            body.append(f"{{{key}}}")
        else:
            names[key] = part[0]
            body.append(f"{{{key}[i{len(indexes)}]}}")
            indexes.append(f"i{len(indexes)}")
            codes += part[1]
    layout = struct.Struct(codes)
    if 2 + layout.size > _CHOICES:
        return None
    names["unpack"] = layout.unpack_from
    source = ["def shape(digest):"]
    if indexes:
        source.append(f"    {', '.join(indexes)}, = unpack(digest, 2)")
    source.append(f"    return f\"{''.join(body)}\"")
    exec("\n".join(source), names)      # noqa: S102 - names only, see above
    shape: Callable[[bytes], str] = names["shape"]
    return shape


@functools.lru_cache(maxsize=8)
def _locale(locale: str) -> _Locale:
    return _Locale(locale)


def _email_part(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "", _ascii(name).lower())


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32) * (_WIDE // 1024)     # two base32 characters per 16 bits
_SUFFIX = struct.Struct(">5H")
_DOMAINS = tuple(EMAIL_DOMAINS[b % len(EMAIL_DOMAINS)] for b in range(256))


def _suffix(digest: bytes) -> str:
    """The uniqueness suffix: 10 base32 characters (lower case, 50 bits) from the digest's last 10 bytes (no
    choice of a fake value reads them)."""
    a, b, c, d, e = _SUFFIX.unpack_from(digest, _DIGEST_SIZE - 10)
    pairs = _B32_PAIRS
    return f"{pairs[a]}{pairs[b]}{pairs[c]}{pairs[d]}{pairs[e]}"


def _pseudonym(digest: bytes) -> str:
    """The ``hash`` kind: ``p`` and 23 base32 characters (115 bits) of the digest."""
    return "p" + base64.b32encode(digest[:15]).decode("ascii").lower()[:23]


def _cached(cache: dict[str, Any], make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``make`` for a value that is not None or empty, its text values kept in ``cache`` (see :meth:`Masker._make`)."""
    get, bound = cache.get, _CACHE_SIZE

    def cached(value: Any) -> Any:
        if value.__class__ is str:
            masked = get(value)
            if masked is None:
                if not value:
                    return value
                if len(cache) >= bound:
                    cache.clear()
                masked = cache[value] = make(value)
            return masked
        if value is None:
            return value
        return make(value)
    return cached


class Masker:
    """Masks values deterministically with ``secret`` (bytes) and Faker's ``locale``; safe to share between the
    threads of one run.

    Each value's digest is keyed BLAKE2b-512 (the secret as its key) of the kind and the value: one C call on a
    keyed state made once. Fake values are built from the locale's Faker provider lists (names, street suffixes,
    phone formats...) with the digest's bytes as every choice: no Faker seeding per value (:meth:`_Locale.program`).
    A provider method that is more than "pick from a list / a format" (e.g. en_US postcodes) is a table of Faker's
    values seeded by the index, each made once. Masked text values are cached per field function, a bounded number
    of them."""

    def __init__(self, secret: bytes, locale: str = DEFAULT_LOCALE):
        # BLAKE2b takes a key of at most 64 bytes: a longer secret is hashed to 64 bytes first
        key = secret if len(secret) <= 64 else hashlib.blake2b(secret).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=_DIGEST_SIZE)
        self._locale = _locale(locale or DEFAULT_LOCALE)
        self._makers: dict[tuple[Any, ...], Callable[[Any], Any]] = {}   # a spec's parameters -> _make's function
        self._tokens: dict[str, Callable[[_Draw], str]] = {}            # Faker method -> _compiled's function
        self._caches: list[dict[str, Any]] = []                          # the cache of each of _makers

    def digest(self, kind: str, text: str) -> bytes:
        """Keyed BLAKE2b-512 of ``kind``, a NUL and the source value, with the secret as the key."""
        state = self._keyed.copy()
        state.update(f"{kind}\x00{text}".encode())
        return state.digest()

    def cache_size(self) -> int:
        """How many masked values the masker holds now (at most a fixed bound per field function)."""
        return sum(len(cache) for cache in self._caches)

    def value(self, spec: Mapping[str, Any], value: Any) -> Any:
        """``value`` masked under ``spec`` (a rule's JSON, with the target field's ``type``, ``length``, ``unique``
        and ``scale`` when known: :func:`target_spec`). None and empty values stay as they are."""
        kind = spec["kind"]
        if kind == "keep":
            return value
        if kind == "blank":
            return None
        if kind == "fixed":
            return spec.get("value")
        return self._maker(spec)(value)

    def masking(self, spec: Mapping[str, Any]) -> Callable[[Any], Any]:
        """:meth:`value` under ``spec`` as a function of the value, the spec read once: what a run calls for every
        value of a masked field (the same values, the same cache)."""
        kind = spec["kind"]
        if kind in ("keep", "blank", "fixed"):
            return functools.partial(self.value, spec)
        return self._maker(spec)

    def _maker(self, spec: Mapping[str, Any]) -> Callable[[Any], Any]:
        """:meth:`_make`'s function for ``spec`` (None and empty values kept as they are), one per distinct set of
        parameters: specs that are equal share it, and its cached values."""
        get = spec.get
        params = (spec["kind"], int(get("length") or 0), bool(get("unique")), get("n"), get("days"), get("percent"),
                  get("type"), get("scale"))
        try:
            make = self._makers.get(params)
            if make is None:
                cache: dict[str, Any] = {}
                self._caches.append(cache)
                make = self._makers[params] = self._make(cache, *params)
        except TypeError:           # a parameter that cannot be a key
            make = self._make({}, *params)
        return make

    def _make(self, cache: dict[str, Any], kind: str, length: int, unique: bool, n: Any, days: Any, percent: Any,
              ftype: Any, scale: Any) -> Callable[[Any], Any]:
        """The function masking a value of ``kind`` with these parameters, keeping text values in ``cache`` (at most
        ``_CACHE_SIZE``; when full, it starts again: cheaper per value than keeping the least recently used, and a
        value masks the same way again anyway). Only text is a key: ``1``, ``1.0`` and ``True`` are one key of a
        dict. The usual case, a fake kind that :meth:`_fit` adds nothing to, is one function, its cache inline."""
        keyed = self._keyed.copy()      # already fed the kind: each value's digest is that of :meth:`digest`
        keyed.update(f"{kind}\x00".encode())
        start = keyed.copy

        def digest(text: str) -> bytes:
            state = start()
            state.update(text.encode())
            return state.digest()

        if kind == "keep_last":
            keep, keep_last = int(n if n is not None else 4), self._keep_last
            return _cached(cache, lambda value: keep_last(str(value), keep, digest(str(value).strip()), length))
        if kind == "date_shift":
            span, shift = int(days if days is not None else 30), self._shift
            return _cached(cache, lambda value: shift(str(value), span, digest(str(value).strip())))
        if kind == "number":
            share, number = float(percent if percent is not None else 10), self._number
            target = {"type": ftype, "scale": scale}
            return _cached(cache, lambda value: number(value, share, digest(str(value).strip()), target))
        fake, fit = self._fake(kind), self._fit
        if kind == "email":
            return _cached(cache, self._email(start, fake, length, unique))
        if unique and kind != "hash":
            def suffixed(value: Any) -> str:
                state = start()
                state.update(str(value).strip().encode())
                digest = state.digest()
                return fit(kind, fake(digest), digest, length, unique)
            return _cached(cache, suffixed)
        get, bound, cut = cache.get, _CACHE_SIZE, length or None

        def mask(value: Any) -> Any:
            if value.__class__ is str:
                masked = get(value)
                if masked is None:
                    if not value:
                        return value
                    state = start()
                    state.update(value.strip().encode())
                    masked = fake(state.digest())[:cut]
                    if len(cache) >= bound:
                        cache.clear()
                    cache[value] = masked
                return masked
            if value is None:
                return value
            state = start()
            state.update(str(value).strip().encode())
            return fake(state.digest())[:cut]
        return mask

    def _email(self, start: Callable[[], Any], fake: Callable[[bytes], str], length: int,
               unique: bool) -> Callable[[Any], str]:
        """The function masking an email (compared in lower case, as the org does): :meth:`_fit` of :meth:`_fake`'s
        address, the usual case (it fits the field as it is) made in one step."""
        fit, names = self._fit, self._locale
        if not names.firsts or not names.lasts:
            def seeded(value: Any) -> str:
                state = start()
                state.update(str(value).strip().lower().encode())
                digest = state.digest()
                return fit("email", fake(digest), digest, length, unique)
            return seeded
        firsts, lasts = names.wide(names.firsts_email), names.wide(names.lasts_email)
        room = length or 1 << 30

        def email(value: Any) -> str:
            state = start()
            state.update(str(value).strip().lower().encode())
            digest = state.digest()
            local = f"{firsts[digest[2] << 8 | digest[3]]}.{lasts[digest[4] << 8 | digest[5]]}".strip(".") or "person"
            domain = _DOMAINS[digest[6]]
            if unique:
                local = f"{local}.{_suffix(digest)}"
            if len(local) + len(domain) < room:
                return f"{local}@{domain}"
            return fit("email", fake(digest), digest, length, unique)
        return email

    def _fake(self, kind: str) -> Callable[[bytes], str]:
        """The fake value of ``kind`` as a function of the digest, its lists looked up once."""
        names = self._locale
        if kind == "hash":
            return _pseudonym
        if kind in ("first_name", "last_name", "full_name", "email"):
            if not names.firsts or not names.lasts:     # a locale without name lists: Faker's, seeded
                return functools.partial(self._seeded_name, kind)
            firsts, lasts = names.wide(names.firsts), names.wide(names.lasts)
            if kind == "first_name":
                return lambda digest: firsts[digest[2] << 8 | digest[3]]
            if kind == "last_name":
                return lambda digest: lasts[digest[4] << 8 | digest[5]]
            if kind == "full_name":
                return lambda digest: f"{firsts[digest[2] << 8 | digest[3]]} {lasts[digest[4] << 8 | digest[5]]}"
            firsts_email, lasts_email = names.wide(names.firsts_email), names.wide(names.lasts_email)

            def email(digest: bytes) -> str:
                local = f"{firsts_email[digest[2] << 8 | digest[3]]}.{lasts_email[digest[4] << 8 | digest[5]]}"
                return f"{local.strip('.') or 'person'}@{_DOMAINS[digest[6]]}"
            return email
        if kind == "text":
            return lambda digest: self._text(_Draw(digest), 200)
        name = _FAKER_METHOD[kind]
        program = names.program(name)
        if program is not None:
            return program
        token = self._compiled(name)       # formats that cannot be flattened: drawn step by step
        return lambda digest: token(_Draw(digest))

    def _seeded_name(self, kind: str, digest: bytes) -> str:
        """A name of ``kind`` from Faker seeded by the digest (a locale without name lists)."""
        first = self._locale.faker("first_name", int.from_bytes(digest[:8], "big"))
        last = self._locale.faker("last_name", int.from_bytes(digest[8:16], "big"))
        if kind == "first_name":
            return first
        if kind == "last_name":
            return last
        if kind == "full_name":
            return f"{first} {last}"
        local = f"{_email_part(first)}.{_email_part(last)}".strip(".")
        return f"{local or 'person'}@{_DOMAINS[digest[20]]}"

    # ------------------------------------------------------------------ values drawn step by step
    def _compiled(self, name: str) -> Callable[[_Draw], str]:
        """What Faker's ``name`` would make, as a function of a :class:`_Draw`, for the formats
        :meth:`_Locale.program` cannot flatten; the rules of ``name`` and of the tokens its formats name are looked
        up once per masker, not per value."""
        token = self._tokens.get(name)
        if token is None:
            made: dict[str, Callable[[_Draw], str]] = {}
            token = self._compile(name, made)
            self._tokens.update(made)       # only whole: another thread may use them at once
        return token

    def _compile(self, name: str, made: dict[str, Callable[[_Draw], str]]) -> Callable[[_Draw], str]:
        token = self._tokens.get(name) or made.get(name)
        if token is not None:
            return token
        how, data = self._locale.rule(name)
        if how == "fill" and not any(tables for _, tables in data):
            how, data = "list", tuple(text for text, _ in data)     # patterns without placeholders: a pick
        if how == "list":
            token = operator.methodcaller("pick", data)
        elif how == "formats":
            made[name] = lambda draw: made[name](draw)     # for a format naming this token again: the one made below
            formats = tuple(tuple(part if isinstance(part, str) else self._compile(part[0], made) for part in parts)
                            for parts in data)

            def token(draw: _Draw) -> str:
                return "".join([part if part.__class__ is str else part(draw) for part in draw.pick(formats)])
        elif how == "fill":
            token = operator.methodcaller("fill", data)
        elif how == "fill_upper":
            token = lambda draw: draw.fill(data).upper()       # noqa: E731
        else:
            token = functools.partial(self._faker, name)
        made[name] = token
        return token

    def _faker(self, name: str, draw: _Draw) -> str:
        """Faker's ``name`` seeded from ``draw`` (a provider method that is more than picks from lists)."""
        return self._locale.faker(name, draw.take(8))

    def _text(self, draw: _Draw, max_chars: int) -> str:
        """Sentences of the locale's lorem words, up to ``max_chars`` (Faker's ``text``, from the word list)."""
        words = self._locale.rules.get("__words__")
        if words is None:
            found = getattr(getattr(self._locale.fake, "words", None), "__self__", None)
            items = getattr(found, "word_list", None)
            usable: tuple[str, ...] = ()
            if isinstance(items, (list, tuple)) and all(isinstance(w, str) for w in items):
                usable = tuple(items)
            words = self._locale.rules["__words__"] = ("list", usable)
        if not words[1]:
            return self._locale.faker("text", draw.take(8), max_nb_chars=max_chars)
        sentences: list[str] = []
        size = 0
        while True:
            sentence = " ".join(draw.pick(words[1]) for _ in range(4 + draw.take(1) % 7))
            sentence = sentence[:1].upper() + sentence[1:] + "."
            if sentences and size + 1 + len(sentence) > max_chars:
                break
            sentences.append(sentence)
            size += len(sentence) + 1
            if size >= max_chars // 2 and draw.take(1) % 3 == 0:
                break
        return " ".join(sentences)[:max_chars]

    @staticmethod
    def _fit(kind: str, base: str, digest: bytes, length: int, unique: bool) -> str:
        """``base`` within the target field's ``length`` (0: no limit); with a stable suffix on a ``unique`` field
        or match key."""
        suffix = ""
        if unique and kind != "hash":
            suffix = _suffix(digest)
        if kind == "email":
            local, _, domain = base.partition("@")
            tail = f".{suffix}" if suffix else ""
            if length and len(local) + len(tail) + 1 + len(domain) > length:
                local = local[:max(1, length - 1 - len(domain) - len(tail))].rstrip(".") or "p"
            return f"{local}{tail}@{domain}"
        if suffix:
            sep = "-" if kind == "phone" else " "
            if length and len(base) + 1 + len(suffix) > length:
                base = base[:max(0, length - 1 - len(suffix))].rstrip()
            return f"{base}{sep}{suffix}" if base else suffix[:length or None]
        return base[:length] if length else base

    @staticmethod
    def _keep_last(text: str, n: int, digest: bytes, length: int) -> str:
        """Every letter and digit before the last ``n`` characters replaced (stably); separators stay."""
        stream = digest * (len(text) // len(digest) + 1)
        out = []
        head = len(text) - n
        for index, char in enumerate(text):
            if index >= head:
                out.append(char)
            elif char.isdigit():
                out.append(str(stream[index] % 10))
            elif char.isalpha():
                letter = chr(ord("a") + stream[index] % 26)
                out.append(letter.upper() if char.isupper() else letter)
            else:
                out.append(char)
        masked = "".join(out)
        return masked[-length:] if length and len(masked) > length else masked

    @staticmethod
    def _shift(text: str, days: int, digest: bytes) -> str:
        """A date (``2020-05-01``) or date/time moved by 1..``days`` days, earlier or later, stably per value."""
        try:
            day = date.fromisoformat(text[:10])
        except ValueError:
            return text
        amount = 1 + int.from_bytes(digest[:4], "big") % days
        moved = day + timedelta(days=amount if digest[4] % 2 else -amount)
        return moved.isoformat() + text[10:]

    @staticmethod
    def _number(value: Any, percent: float, digest: bytes, spec: Mapping[str, Any]) -> Any:
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return value
        share = Decimal(int.from_bytes(digest[:4], "big")) / Decimal(2 ** 32)       # 0..1
        factor = 1 + (share * 2 - 1) * Decimal(str(percent)) / 100
        scale = 0 if spec.get("type") in ("int", "long") else spec.get("scale")
        moved = number * factor
        if scale is not None:
            moved = moved.quantize(Decimal(1).scaleb(-int(scale)), rounding=ROUND_HALF_UP)
        if spec.get("type") in ("int", "long") or isinstance(value, int):
            return int(moved)
        return float(moved)


# ---------------------------------------------------------------------------------------------- suggestions
_NAME_HINTS: list[tuple[re.Pattern[str], str, dict[str, Any], str]] = [
    (re.compile(r"(ssn|social.?security|national.?id|passport|tax.?id)", re.I), "keep_last", {"n": 4},
     "an identity number"),
    (re.compile(r"(birth)", re.I), "date_shift", {"days": 365}, "a date of birth"),
    (re.compile(r"^(first.?name|given.?name|middle.?name)", re.I), "first_name", {}, "a first name"),
    (re.compile(r"^(last.?name|surname|family.?name)", re.I), "last_name", {}, "a last name"),
    (re.compile(r"e.?mail", re.I), "email", {}, "an email address"),
    (re.compile(r"(phone|mobile|fax)", re.I), "phone", {}, "a phone number"),
    (re.compile(r"street", re.I), "street", {}, "a street address"),
    (re.compile(r"city", re.I), "city", {}, "a city"),
    (re.compile(r"(postal.?code|zip)", re.I), "postal_code", {}, "a postal code"),
]
_PERSON_OBJECTS = {"contact", "lead", "user", "individual", "person"}


def suggest_masking(describe_fields: Iterable[Mapping[str, Any]], object_name: str | None = None) -> list[MaskRule]:
    """The fields of a describe that look personal, each with the rule proposed for it (``reason`` says why):
    email and phone fields, address parts, dates of birth, names (FirstName, LastName, and Name on person objects
    such as Contact and Lead), identity numbers (SSN), and custom fields whose name or label says so. Only fields a
    sync can write are proposed; the rule fits the field (:func:`check_rule`)."""
    out: list[MaskRule] = []
    person = (object_name or "").lower() in _PERSON_OBJECTS
    for meta in describe_fields:
        name = str(meta.get("name", ""))
        ftype = str(meta.get("type", "string"))
        if not name or ftype in UNMASKABLE_TYPES or ftype in ("boolean", "picklist", "multipicklist") \
                or meta.get("calculated") or meta.get("autoNumber") \
                or not (meta.get("createable") or meta.get("updateable")):
            continue
        label = str(meta.get("label") or "")
        proposal: tuple[str, dict[str, Any], str] | None = None
        if ftype == "email":
            proposal = ("email", {}, "an email field")
        elif ftype == "phone":
            proposal = ("phone", {}, "a phone field")
        elif name == "Name" and person:
            proposal = ("full_name", {}, "a person's name")
        else:
            for pattern, kind, params, why in _NAME_HINTS:
                if pattern.search(name) or pattern.search(label):
                    proposal = (kind, params, why)
                    break
        if proposal is None:
            continue
        kind, params, why = proposal
        rule = MaskRule(name, kind, dict(params), reason=f"looks like {why}")
        if check_rule(rule, meta) is not None:
            fallback = MaskRule(name, "hash", {}, reason=rule.reason)
            if ftype not in TEXT_TYPES or check_rule(fallback, meta) is not None:
                continue
            rule = fallback
        out.append(rule)
    return out


# ---------------------------------------------------------------------------------------------- the secret
def _secret_key(template_name: str) -> str:
    if not template_name.strip():
        raise ValueError("a masking secret belongs to a named template")
    return f"template:{template_name.strip()}"


def template_secret(template_name: str, *, create: bool = True) -> bytes | None:
    """The masking secret of template ``template_name`` from the OS keyring; made (32 random bytes) and stored
    on first use when ``create``. Never written anywhere else."""
    from ..salesforce.secrets import get_secret, store_secret

    stored = get_secret(_secret_key(template_name), SECRET_NAME)
    if stored:
        return base64.b64decode(stored)
    if not create:
        return None
    secret = _random.token_bytes(32)
    store_secret(_secret_key(template_name), SECRET_NAME, base64.b64encode(secret).decode("ascii"))
    logger.info("made a new masking secret for template %r (kept in the keyring)", template_name)
    return secret


def export_secret(template_name: str) -> str:
    """The template's secret as text to share (``isyncsf-mask-secret-v1:...``); made first when there is none."""
    secret = template_secret(template_name)
    assert secret is not None
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def import_secret(template_name: str, text: str) -> None:
    """Keep ``text`` (from :func:`export_secret`) as the template's secret; raises ValueError when it is not one."""
    from ..salesforce.secrets import store_secret

    body = text.strip()
    if not body.startswith(SECRET_PREFIX):
        raise ValueError(f"not a masking secret (it starts with {SECRET_PREFIX!r})")
    try:
        secret = base64.b64decode(body[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the masking secret is damaged (not base64)") from None
    if len(secret) < 16:
        raise ValueError("the masking secret is too short")
    store_secret(_secret_key(template_name), SECRET_NAME, base64.b64encode(secret).decode("ascii"))


__all__ = ["DEFAULT_LOCALE", "FAKE_KINDS", "KINDS", "PARAMS", "MaskRule", "MaskRuleError", "Masker", "check_rule",
           "export_secret", "import_secret", "masked_paths", "parse_rule", "plan_rules", "parse_rules", "suggest_masking", "target_spec",
           "template_secret"]


# ---------------------------------------------------------------------------------------------- plans
def plan_rules(rules: Mapping[str, MaskRule], target_fields: Mapping[str, Mapping[str, Any]], fields: Iterable[str],
               match_by: Iterable[str]) -> dict[str, dict[str, Any]]:
    """A line's rules checked against the target's describe (``target_fields``: name -> field) and the fields the
    plan copies: field -> :func:`target_spec`. Raises :class:`MaskRuleError` naming the field."""
    copied = {f.lower(): f for f in fields}
    keys = {k.lower() for k in match_by if "." not in k}
    by_lower = {name.lower(): meta for name, meta in target_fields.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, rule in rules.items():
        canonical = copied.get(name.lower())
        if canonical is None:
            raise MaskRuleError(f"{name}: not a field this line copies (not in the source or the target org, or "
                                "the target's user cannot write it)")
        meta = by_lower.get(name.lower(), {})
        rule = MaskRule(canonical, rule.kind, dict(rule.params))
        problem = check_rule(rule, meta, match_key=name.lower() in keys)
        if problem:
            raise MaskRuleError(problem)
        out[canonical] = target_spec(rule, meta, match_key=name.lower() in keys)
    return out


def masked_paths(oplan: Any, objects: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The parent paths of ``oplan``'s match key (``Contact.Email``) that end at a field another line masks:
    path -> that field's spec, so the source's key is masked as the parent's target value was."""
    out: dict[str, dict[str, Any]] = {}
    for path in oplan.match_by:
        parts = path.split(".")
        if len(parts) < 2:
            continue
        current = oplan
        for relationship in parts[:-1]:
            ref = next((r for r in current.refs.values()
                        if r.relationship and r.relationship.lower() == relationship.lower()), None)
            parent = next((p for p in ref.parents if p in objects), None) if ref is not None else None
            current = objects.get(parent) if parent else None
            if current is None:
                break
        if current is None:
            continue
        spec = next((s for f, s in current.mask.items() if f.lower() == parts[-1].lower()), None)
        if spec is not None:
            out[path] = spec
    return out
