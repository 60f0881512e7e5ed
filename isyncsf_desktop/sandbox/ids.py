"""Salesforce record ids: 15-character case-sensitive ids and their 18-character checksummed form."""

from __future__ import annotations

import functools
import re
import secrets

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


_UPPER_AS_BIT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "1" * 26 + "0" * 36)
# Five characters' capitals as "0"/"1" (the first character first) -> the suffix character they make.
_BITS_CHAR = {"".join("1" if bits >> pos & 1 else "0" for pos in range(5)): _ALNUM[bits] for bits in range(32)}


def checksum(id15: str) -> str:
    """The three suffix characters that make a 15-character id case-insensitively unique."""
    flags = id15[:15].translate(_UPPER_AS_BIT)
    first, second, third = (_BITS_CHAR.get(flags[0:5]), _BITS_CHAR.get(flags[5:10]),
                            _BITS_CHAR.get(flags[10:15]))
    if first is not None and second is not None and third is not None:
        return first + second + third
    return _checksum_of_any(id15)   # a character that is not a letter or digit: count it as not a capital


def _checksum_of_any(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for pos in range(5):
            char = id15[chunk * 5 + pos]
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out.append(_ALNUM[bits])
    return "".join(out)


def is_valid_id(value: object) -> bool:
    """True for a well-formed 15- or 18-character id (with a correct checksum when 18)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def to18(value: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters. Raises ValueError when malformed."""
    if not is_valid_id(value):
        raise ValueError(f"malformed id: {value!r}")
    return as18(value)


def as18(valid: str) -> str:
    """A 15- or 18-character id already found valid (:func:`is_valid_id`), as 18 characters."""
    return valid if len(valid) == 18 else valid + checksum(valid)


_PAIRS = [a + b for a in _BASE62 for b in _BASE62]   # the 3,844 two-digit base-62 numbers, in order
_FIVE = 62 ** 5


def _base62_5(number: int) -> str:
    """``number`` (0 <= number < 62**5) as five base-62 digits."""
    rest, low = divmod(number, 3844)
    top, middle = divmod(rest, 3844)
    return _BASE62[top] + _PAIRS[middle] + _PAIRS[low]


@functools.lru_cache(maxsize=256)
def _id_head(prefix: str, pod: str, high: int) -> tuple[str, str]:
    """The first ten characters of an id (prefix, pod, the counter's high five digits) and their two
    checksum characters: the same for 62**5 ids in a row."""
    head = prefix + pod + _base62_5(high)
    return head, checksum(head + "00000")[:2]


def make_id(prefix: str, pod: str, counter: int) -> str:
    """An 18-character id: 3-char key prefix, 2-char pod, 10-char base-62 counter, checksum."""
    if len(prefix) != 3 or len(pod) != 2:
        raise ValueError("prefix must be 3 characters and pod 2")
    if counter < 0:
        raise ValueError("the counter must not be negative")
    high, low = divmod(counter, _FIVE)
    head, head_sum = _id_head(prefix, pod, high % _FIVE)    # past 62**10 the counter wraps, as ten digits do
    tail = _base62_5(low)
    return head + tail + head_sum + _BITS_CHAR[tail.translate(_UPPER_AS_BIT)]


def random_pod() -> str:
    """Two id characters that tell one org's records apart from another org's."""
    return secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + secrets.choice("0123456789")
