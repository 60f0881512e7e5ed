"""Tests for the sandbox's Salesforce formula evaluator (validation rules, fail conditions)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from isyncsf_desktop.sandbox.formula import (
    SUPPORTED_FUNCTIONS,
    Formula,
    FormulaError,
    compile_formula,
    is_true,
)
from isyncsf_desktop.sandbox.schema import ObjectSpec, load_schema

NOW = datetime(2024, 3, 15, 10, 30, 0, tzinfo=timezone.utc)

SCHEMA_DOC: dict[str, Any] = {
    "objects": {
        "User": {"keyPrefix": "005", "fields": {"Name": {"type": "string"}}},
        "RecordType": {"keyPrefix": "012", "fields": {"Name": {"type": "string"},
                                                      "DeveloperName": {"type": "string"}}},
        "Account": {
            "keyPrefix": "001",
            "owned": True,
            "fields": {
                "Name": {"type": "string", "required": True},
                "Industry": {"type": "picklist", "values": ["Banking", "Retail"]},
            },
        },
        "Contact": {
            "keyPrefix": "003",
            "nameField": "LastName",
            "recordTypes": ["Partner"],
            "fields": {
                "LastName": {"type": "string", "required": True},
                "Email": {"type": "email"},
                "Phone": {"type": "phone"},
                "LeadSource": {"type": "picklist", "values": ["Web", "Phone Inquiry", "Other"]},
                "Interests__c": {"type": "multipicklist", "values": ["Golf", "Tennis", "Chess"]},
                "Birthdate": {"type": "date"},
                "LastSeen__c": {"type": "datetime"},
                "Amount__c": {"type": "currency"},
                "Score__c": {"type": "int"},
                "DoNotCall": {"type": "boolean"},
                "AccountId": {"type": "reference", "referenceTo": ["Account"],
                              "relationshipName": "Account"},
                "Buddy__c": {"type": "reference", "referenceTo": ["Contact"],
                             "relationshipName": "Buddy__r"},
            },
        },
    }
}


@pytest.fixture(scope="module")
def contact() -> ObjectSpec:
    spec = load_schema(SCHEMA_DOC).object("Contact")
    assert spec is not None
    return spec


@pytest.fixture()
def ev(contact: ObjectSpec):
    """Compile against Contact and evaluate against a record (default: empty) at NOW."""

    def run(text: str, record: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("now", NOW)
        return compile_formula(text, contact).evaluate(record or {}, **kwargs)

    return run


def error_of(text: str, obj: ObjectSpec | None) -> FormulaError:
    with pytest.raises(FormulaError) as info:
        compile_formula(text, obj)
    return info.value


# ----------------------------------------------------------------------------------------------
# Literals and operators
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42),
    ("3.25", 3.25),
    (".5", 0.5),
    ('"double"', "double"),
    ("'single'", "single"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"'it\'s'", "it's"),
    (r"'a\\b'", "a\\b"),
    (r"'line\nbreak\ttab'", "line\nbreak\ttab"),
    (r"'\u00e9'", "é"),
    (r"'\d+'", "\\d+"),  # unknown escapes are kept for REGEX patterns
    ("TRUE", True),
    ("false", False),
    ("Null", None),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("7 / 2", 3.5),
    ("1 / 3 * 3", 1),
    ("2 ^ 10", 1024),
    ("2 ^ -1", 0.5),
    ("-2 ^ 2", -4),
    ("2 ^ 3 ^ 2", 512),
    ("-(3 - 5)", 2),
    ("+4", 4),
    ("0.1 + 0.2", 0.3),
    ("0.1 + 0.2 = 0.3", True),
    ("1 / 0", None),
    ("'ab' & 'cd'", "abcd"),
    ("'ab' + 'cd'", "abcd"),
    ("'n=' & TEXT(1 + 1)", "n=2"),
    ("'a' & 'b' = 'ab'", True),
    ("1 = 1", True),
    ("1 == 2", False),
    ("1 <> 2", True),
    ("1 != 1", False),
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 2", True),
    ("2 >= 3", False),
    ("'a' < 'b'", True),
    ("TRUE && FALSE", False),
    ("TRUE && TRUE", True),
    ("FALSE || TRUE", True),
    ("FALSE || FALSE", False),
    ("!TRUE", False),
    ("!FALSE", True),
    ("1 < 2 && 3 < 4 || FALSE", True),
    ("FALSE && TRUE || TRUE", True),  # && binds tighter than ||
    ("1 + 1 = 2 && 'x' <> 'y'", True),
    ("/* a comment */ 1 + /* another */ 1", 2),
    ("1 +\n  2", 3),
])
def test_literals_and_operators(ev, text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_text_equality_is_case_sensitive(ev) -> None:
    assert ev("LastName = 'smith'", {"LastName": "Smith"}) is False
    assert ev("LastName = 'Smith'", {"LastName": "Smith"}) is True
    assert ev("LastName <> 'smith'", {"LastName": "Smith"}) is True


def test_and_or_short_circuit(contact: ObjectSpec) -> None:
    calls: list[str] = []

    def resolver(field: str, record_id: str) -> dict[str, Any]:
        calls.append(field)
        return {"Name": "Acme"}

    record = {"AccountId": "001000000000001AAA"}
    formula = compile_formula("FALSE && Account.Name = 'Acme'", contact)
    assert formula.evaluate(record, resolve_parent=resolver) is False
    formula = compile_formula("TRUE || Account.Name = 'Acme'", contact)
    assert formula.evaluate(record, resolve_parent=resolver) is True
    formula = compile_formula("AND(FALSE, Account.Name = 'Acme')", contact)
    assert formula.evaluate(record, resolve_parent=resolver) is False
    formula = compile_formula("OR(TRUE, Account.Name = 'Acme')", contact)
    assert formula.evaluate(record, resolve_parent=resolver) is True
    formula = compile_formula("IF(TRUE, 1, LEN(Account.Name))", contact)
    assert formula.evaluate(record, resolve_parent=resolver) == 1
    assert calls == []
    formula = compile_formula("TRUE && Account.Name = 'Acme'", contact)
    assert formula.evaluate(record, resolve_parent=resolver) is True
    assert calls == ["AccountId"]


# ----------------------------------------------------------------------------------------------
# Functions
# ----------------------------------------------------------------------------------------------

RECORD: dict[str, Any] = {
    "LastName": "  Smith  ",
    "Email": "bob@example.com",
    "Phone": "555-1234",
    "LeadSource": "Web",
    "Interests__c": "Golf;Chess",
    "Birthdate": "1990-07-04",
    "LastSeen__c": "2024-03-14T22:00:00.000+0000",
    "Amount__c": 1234.5,
    "Score__c": 7,
    "DoNotCall": True,
}


@pytest.mark.parametrize(("text", "expected"), [
    ("AND(TRUE, TRUE, TRUE)", True),
    ("AND(TRUE, FALSE)", False),
    ("OR(FALSE, FALSE, TRUE)", True),
    ("OR(FALSE, FALSE)", False),
    ("NOT(TRUE)", False),
    ("NOT(DoNotCall)", False),
    ("ISBLANK(Email)", False),
    ("ISBLANK('')", True),
    ("ISBLANK(Amount__c)", False),
    ("ISNULL(Score__c)", False),
    ("ISNULL(NULL)", True),
    ("LEN(LastName)", 9),
    ("LEN('')", 0),
    ("ISPICKVAL(LeadSource, 'Web')", True),
    ("ISPICKVAL(LeadSource, 'web')", False),
    ("IF(Score__c > 5, 'high', 'low')", "high"),
    ("IF(Score__c > 50, 'high', 'low')", "low"),
    ("TEXT(Amount__c)", "1234.5"),
    ("TEXT(Score__c)", "7"),
    ("TEXT(LeadSource)", "Web"),
    ("TEXT(Birthdate)", "1990-07-04"),
    ("TEXT(LastSeen__c)", "2024-03-14 22:00:00Z"),
    ("TEXT(12.500)", "12.5"),
    ("VALUE('12.5') + 1", 13.5),
    ("VALUE(' 42 ')", 42),
    ("VALUE('abc')", None),
    ("BEGINS(Email, 'bob')", True),
    ("BEGINS(Email, 'Bob')", False),
    ("CONTAINS(Email, '@example')", True),
    ("CONTAINS(Email, 'nope')", False),
    ("UPPER(Email)", "BOB@EXAMPLE.COM"),
    ("LOWER('MiXeD')", "mixed"),
    ("TRIM(LastName)", "Smith"),
    ("ISNUMBER('12.5')", True),
    ("ISNUMBER('-3')", True),
    ("ISNUMBER('12a')", False),
    ("ISNUMBER('')", False),
    ("REGEX(Phone, '\\\\d{3}-\\\\d{4}')", True),
    ("REGEX(Phone, '\\\\d{3}')", False),  # the whole text must match
    ("REGEX(LastName, '\\\\s*\\\\p{Alpha}+\\\\s*')", True),  # Java POSIX classes
    ("TODAY()", "2024-03-15"),
    ("NOW()", "2024-03-15T10:30:00.000+0000"),
    ("DATE(2024, 2, 29)", "2024-02-29"),
    ("DATE(2023, 2, 29)", None),
    ("BLANKVALUE(Phone, 'none')", "555-1234"),
    ("BLANKVALUE('', 'none')", "none"),
    ("NULLVALUE(Score__c, 0)", 7),
    ("NULLVALUE(NULL, 0)", 0),
    ("CASE(LeadSource, 'Phone Inquiry', 1, 'Web', 2, 0)", 2),
    ("CASE(LeadSource, 'Other', 1, 0)", 0),
    ("CASE(Score__c, 7, 'seven', 'other')", "seven"),
    ("LEFT(Email, 3)", "bob"),
    ("RIGHT(Email, 3)", "com"),
    ("MID(Email, 5, 7)", "example"),
    ("FIND('@', Email)", 4),
    ("FIND('o', Email, 3)", 14),
    ("FIND('z', Email)", 0),
    ("SUBSTITUTE(Phone, '-', '')", "5551234"),
    ("LPAD('7', 3, '0')", "007"),
    ("RPAD('ab', 4)", "ab  "),
    ("LPAD('abcdef', 3)", "abc"),
    ("INCLUDES(Interests__c, 'Chess')", True),
    ("INCLUDES(Interests__c, 'Tennis')", False),
    ("ABS(-2.5)", 2.5),
    ("FLOOR(2.7)", 2),
    ("CEILING(2.1)", 3),
    ("ROUND(2.345, 2)", 2.35),
    ("ROUND(-2.5, 0)", -3),
    ("ROUND(1234, -2)", 1200),
    ("MOD(10, 3)", 1),
    ("MOD(10, 0)", None),
    ("MAX(1, 7, 3)", 7),
    ("MIN(4, 2, 9)", 2),
    ("SQRT(16)", 4),
    ("SQRT(-1)", None),
    ("ROUND(EXP(1), 4)", 2.7183),
    ("ROUND(LN(EXP(2)), 6)", 2),
    ("LOG(1000)", 3),
    ("YEAR(Birthdate)", 1990),
    ("MONTH(Birthdate)", 7),
    ("DAY(Birthdate)", 4),
    ("WEEKDAY(DATE(2024, 3, 17))", 1),  # a Sunday
    ("WEEKDAY(DATE(2024, 3, 16))", 7),  # a Saturday
    ("DATEVALUE(LastSeen__c)", "2024-03-14"),
    ("DATEVALUE('2024-01-02')", "2024-01-02"),
    ("DATETIMEVALUE('2024-01-02 03:04:05')", "2024-01-02T03:04:05.000+0000"),
    ("ADDMONTHS(DATE(2024, 1, 31), 1)", "2024-02-29"),
    ("ADDMONTHS(DATE(2024, 2, 29), 12)", "2025-02-28"),
    ("ADDMONTHS(DATE(2024, 4, 30), 1)", "2024-05-31"),  # month end stays month end
    ("ADDMONTHS(DATE(2024, 1, 15), -2)", "2023-11-15"),
])
def test_functions(ev, text: str, expected: Any) -> None:
    result = ev(text, dict(RECORD))
    assert result == expected
    assert type(result) is type(expected)


def test_every_supported_function_is_tested() -> None:
    tested = " ".join(p[0] for p in test_functions.pytestmark[0].args[1]).upper()  # type: ignore
    tested += " ISNEW( ISCHANGED( PRIORVALUE("
    missing = {name for name in SUPPORTED_FUNCTIONS if f"{name}(" not in tested}
    assert missing == set()


def test_function_names_and_fields_are_case_insensitive(ev, contact: ObjectSpec) -> None:
    assert ev("and(isblank(email), not(IsBlank(LASTNAME)))", {"LastName": "X"}) is True
    formula = compile_formula("len(lastname) > 0 && ISPICKVAL(leadsource, 'Web')", contact)
    assert formula.referenced_fields() == {"LastName", "LeadSource"}
    # record keys are matched case-insensitively too
    assert formula.evaluate({"lastname": "X", "LEADSOURCE": "Web"}) is True


def test_regex_with_dynamic_pattern(ev) -> None:
    assert ev("REGEX(Email, LastName)", {"Email": "aaa", "LastName": "a+"}) is True
    assert ev("REGEX(Email, LastName)", {"Email": "aaa", "LastName": "["}) is False


# ----------------------------------------------------------------------------------------------
# Blank (null) semantics
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("ISBLANK(Email)", True),
    ("ISBLANK(Amount__c)", True),
    ("ISBLANK(Birthdate)", True),
    ("ISNULL(Amount__c)", True),
    ("LEN(Phone)", 0),
    ("Amount__c + 1", None),
    ("Amount__c * 2", None),
    ("-Amount__c", None),
    ("Amount__c > 0", False),
    ("Amount__c < 0", False),
    ("Amount__c = 0", False),
    ("Amount__c <> 0", False),
    ("Amount__c = NULL", True),
    ("Amount__c <> NULL", False),
    ("Email = NULL", True),
    ("Email = ''", True),  # blank text is the empty string
    ("Email <> 'x'", True),
    ("Email & '!'", "!"),
    ("Birthdate < TODAY()", False),
    ("Birthdate > TODAY()", False),
    ("NOT(Amount__c > 0)", True),
    ("IF(Amount__c > 0, 'pos', 'not pos')", "not pos"),
    ("BLANKVALUE(Amount__c, -1)", -1),
    ("NULLVALUE(Amount__c, -1)", -1),
    ("TEXT(Amount__c)", ""),
    ("UPPER(Email)", ""),
    ("BEGINS(Email, 'a')", False),
    ("CONTAINS(Email, 'a')", False),
    ("ISNUMBER(Phone)", False),
    ("VALUE(Phone)", None),
    ("YEAR(Birthdate)", None),
    ("REGEX(Email, '.*')", True),  # a blank text matches patterns that accept ''
    ("REGEX(Email, '.+')", False),
    ("DoNotCall", False),  # checkboxes are never blank
    ("ISPICKVAL(LeadSource, '')", True),
    ("CASE(LeadSource, 'Web', 1, 0)", 0),
])
def test_blank_semantics(ev, text: str, expected: Any) -> None:
    result = ev(text, {"LastName": "X"})
    assert result == expected
    assert type(result) is type(expected)


def test_empty_string_is_blank_but_not_null(ev) -> None:
    assert ev("ISBLANK(Email)", {"Email": ""}) is True
    assert ev("ISNULL(Email)", {"Email": ""}) is False
    assert ev("ISNULL(Email)", {"Email": None}) is True
    assert ev("BLANKVALUE(Email, 'x')", {"Email": ""}) == "x"
    assert ev("NULLVALUE(Email, 'x')", {"Email": ""}) == ""


# ----------------------------------------------------------------------------------------------
# Dates and datetimes
# ----------------------------------------------------------------------------------------------

def test_dates_compare_as_dates(ev) -> None:
    record = {"Birthdate": "2024-03-16"}
    assert ev("Birthdate > TODAY()", record) is True
    assert ev("Birthdate = DATE(2024, 3, 16)", record) is True
    assert ev("Birthdate - TODAY()", record) == 1
    assert ev("Birthdate + 30", record) == "2024-04-15"
    assert ev("Birthdate - 16", record) == "2024-02-29"
    assert ev("TODAY() - DATE(2024, 1, 1)") == 74
    assert ev("YEAR(TODAY()) - YEAR(Birthdate) < 18", {"Birthdate": "2010-01-01"}) is True


def test_datetimes_compare_as_instants(ev) -> None:
    # 22:00 UTC on the 14th; 2024-03-15T00:30+02:00 is 22:30 UTC on the 14th.
    record = {"LastSeen__c": "2024-03-15T00:30:00.000+0200"}
    assert ev("LastSeen__c < NOW()", record) is True
    assert ev("LastSeen__c = DATETIMEVALUE('2024-03-14 22:30:00')", record) is True
    assert ev("NOW() - LastSeen__c", record) == 0.5
    assert ev("LastSeen__c + 1", record) == "2024-03-15T22:30:00.000+0000"
    assert ev("NOW() - 0.5") == "2024-03-14T22:30:00.000+0000"
    assert ev("DATEVALUE(LastSeen__c)", record) == "2024-03-14"


def test_today_defaults_to_current_utc_date(contact: ObjectSpec) -> None:
    today = datetime.now(timezone.utc).date().isoformat()
    assert compile_formula("TODAY()", contact).evaluate({}) in {
        today, datetime.now(timezone.utc).date().isoformat()}


def test_numbers_accept_json_floats_and_strings(ev) -> None:
    assert ev("Amount__c * 3", {"Amount__c": 0.1}) == pytest.approx(0.3)
    assert ev("Amount__c * 3 = 0.3", {"Amount__c": 0.1}) is True
    assert ev("Amount__c > 1000", {"Amount__c": "1234.50"}) is True
    assert ev("Score__c / 2", {"Score__c": 7}) == 3.5
    assert ev("Amount__c + Score__c", {"Amount__c": 0.5, "Score__c": 2}) == 2.5


# ----------------------------------------------------------------------------------------------
# ISNEW, ISCHANGED, PRIORVALUE
# ----------------------------------------------------------------------------------------------

def test_isnew(ev) -> None:
    assert ev("ISNEW()") is True
    assert ev("ISNEW()", is_new=False, prior={}) is False


def test_ischanged(ev) -> None:
    before = {"LastName": "Smith", "Email": None, "Amount__c": 10, "LeadSource": "Web",
              "Birthdate": "2000-01-01"}
    after = dict(before, Email="a@b.co", Amount__c=10.0, Birthdate="2000-01-01")
    assert ev("ISCHANGED(Email)", after, prior=before, is_new=False) is True
    assert ev("ISCHANGED(LastName)", after, prior=before, is_new=False) is False
    assert ev("ISCHANGED(Amount__c)", after, prior=before, is_new=False) is False  # 10 == 10.0
    assert ev("ISCHANGED(Birthdate)", after, prior=before, is_new=False) is False
    assert ev("ISCHANGED(Amount__c)", dict(after, Amount__c=None), prior=before,
              is_new=False) is True
    # blank text before and after is no change, whether None or ''
    assert ev("ISCHANGED(Phone)", {"Phone": ""}, prior={"Phone": None}, is_new=False) is False
    # always FALSE on insert
    assert ev("ISCHANGED(Email)", after, prior=before, is_new=True) is False
    assert ev("ISCHANGED(Email)", after) is False


def test_priorvalue(ev) -> None:
    before = {"LeadSource": "Other", "Amount__c": 100}
    after = {"LeadSource": "Web", "Amount__c": 250}
    assert ev("PRIORVALUE(Amount__c)", after, prior=before, is_new=False) == 100
    assert ev("Amount__c - PRIORVALUE(Amount__c)", after, prior=before, is_new=False) == 150
    assert ev("ISPICKVAL(PRIORVALUE(LeadSource), 'Other') && ISPICKVAL(LeadSource, 'Web')",
              after, prior=before, is_new=False) is True
    # on insert, PRIORVALUE is the current value
    assert ev("PRIORVALUE(Amount__c)", after) == 250


# ----------------------------------------------------------------------------------------------
# Parent paths
# ----------------------------------------------------------------------------------------------

def test_parent_path_uses_resolver_once_per_parent(contact: ObjectSpec) -> None:
    calls: list[tuple[str, str]] = []
    accounts = {"001A": {"Name": "Acme", "Industry": "Banking"}}

    def resolver(field: str, record_id: str) -> dict[str, Any] | None:
        calls.append((field, record_id))
        return accounts.get(record_id)

    formula = compile_formula(
        "ISPICKVAL(LeadSource, 'Web') && account.industry = 'Banking' && "
        "BEGINS(Account.Name, 'Ac')", contact)
    assert formula.referenced_fields() == {"LeadSource", "Account.industry", "Account.Name"}
    record = {"LeadSource": "Web", "AccountId": "001A"}
    assert formula.evaluate(record, resolve_parent=resolver) is True
    assert calls == [("AccountId", "001A")]
    assert formula.evaluate({"LeadSource": "Web", "AccountId": "001B"},
                            resolve_parent=resolver) is False  # unknown parent: blank
    assert formula.evaluate({"LeadSource": "Web", "AccountId": None},
                            resolve_parent=resolver) is False
    assert calls == [("AccountId", "001A"), ("AccountId", "001B")]


def test_parent_path_without_resolver_or_schema_is_blank(contact: ObjectSpec) -> None:
    record = {"AccountId": "001A"}
    assert compile_formula("Account.Name", contact).evaluate(record) is None
    assert compile_formula("ISBLANK(Account.Name)", contact).evaluate(record) is True
    unchecked = compile_formula("Account.Name")
    assert unchecked.evaluate(record, resolve_parent=lambda f, i: {"Name": "Acme"}) is None


def test_parent_path_reads_embedded_parent_rows(contact: ObjectSpec) -> None:
    record = {"AccountId": "001A", "Account": {"Name": "Embedded"}}
    assert compile_formula("Account.Name", contact).evaluate(record) == "Embedded"
    assert compile_formula("Account.Name").evaluate(record) == "Embedded"


def test_custom_and_multi_level_parent_paths(contact: ObjectSpec) -> None:
    rows = {
        "003B": {"LastName": "Buddy", "AccountId": "001A"},
        "001A": {"Name": "Acme", "OwnerId": "005U"},
        "005U": {"Name": "Olivia Owner"},
    }
    calls: list[str] = []

    def resolver(field: str, record_id: str) -> dict[str, Any] | None:
        calls.append(field)
        return rows.get(record_id)

    formula = compile_formula("Buddy__r.LastName & ' @ ' & Buddy__r.Account.Owner.Name", contact)
    assert formula.referenced_fields() == {"Buddy__r.LastName", "Buddy__r.Account.Owner.Name"}
    assert formula.evaluate({"Buddy__c": "003B"}, resolve_parent=resolver) == \
        "Buddy @ Olivia Owner"
    assert calls == ["Buddy__c", "AccountId", "OwnerId"]


def test_record_type_global_and_blank_globals(contact: ObjectSpec) -> None:
    formula = compile_formula(
        "$RecordType.Name = 'Partner' && NOT($Permission.Bypass_Rules)", contact)
    assert formula.referenced_fields() == {"RecordType.Name"}
    rows = {"012A": {"Name": "Partner"}}
    assert formula.evaluate({"RecordTypeId": "012A"},
                            resolve_parent=lambda f, i: rows.get(i)) is True
    assert compile_formula("$User.Id", contact).evaluate({}) is None


# ----------------------------------------------------------------------------------------------
# Compile-time errors
# ----------------------------------------------------------------------------------------------

def test_unknown_field(contact: ObjectSpec) -> None:
    err = error_of("AND(ISBLANK(Foo), TRUE)", contact)
    assert str(err) == "Unknown field 'Foo' on Contact at column 13"
    assert err.column == 13


def test_unknown_relationship(contact: ObjectSpec) -> None:
    assert str(error_of("Owner.Name = 'x'", contact)) == \
        "Unknown relationship 'Owner' on Contact at column 1"
    assert str(error_of("Email.Domain", contact)) == \
        "'Email' is a field, not a relationship, on Contact at column 1"


def test_unknown_function(contact: ObjectSpec) -> None:
    err = error_of("1 + FROBNICATE(2)", contact)
    assert str(err) == "Unknown function 'FROBNICATE' at column 5"
    assert str(error_of("frobnicate()", None)) == "Unknown function 'frobnicate' at column 1"


@pytest.mark.parametrize(("text", "message"), [
    ("IF(TRUE, 1)", "Incorrect number of parameters for function 'IF()'. Expected 3, received 2"),
    ("LEN()", "Incorrect number of parameters for function 'LEN()'. Expected 1, received 0"),
    ("ISNEW(TRUE)", "Incorrect number of parameters for function 'ISNEW()'. Expected 0, "
                    "received 1"),
    ("AND()", "Incorrect number of parameters for function 'AND()'. Expected at least 1, "
              "received 0"),
    ("FIND('a')", "Incorrect number of parameters for function 'FIND()'. Expected 2 to 3, "
                  "received 1"),
    ("CASE(1, 1, 2)", "Incorrect number of parameters for function 'CASE()'. Expected at least 4, "
                      "received 3"),
    ("CASE(1, 1, 2, 3, 4)", "Incorrect number of parameters for function 'CASE()'. Expected an "
                            "even number, received 5"),
])
def test_argument_count(contact: ObjectSpec, text: str, message: str) -> None:
    err = error_of(text, contact)
    assert str(err) == f"{message} at column 1"


@pytest.mark.parametrize(("text", "message", "column"), [
    ("(1 + 2))", "Syntax error at column 8: unexpected ')' (expected end of formula)", 8),
    ("AND(TRUE, ", "Syntax error at column 11: unexpected end of formula", 11),
    ("IF(TRUE, 1",
     "Syntax error at column 11: unexpected end of formula (expected ',' or ')')", 11),
    ("1 # 2", "Syntax error at column 3: unexpected character '#'", 3),
    ("'abc", "Syntax error at column 1: unterminated string literal", 1),
    ("1 2", "Syntax error at column 3: unexpected '2'", 3),
    ("OR(TRUE,\n  FALSE FALSE)", "Syntax error at line 2, column 9: unexpected 'FALSE'", 9),
    ("   ", "Syntax error at column 1: the formula is empty", 1),
])
def test_syntax_errors(text: str, message: str, column: int) -> None:
    err = error_of(text, None)
    assert str(err) == message
    assert err.column == column


@pytest.mark.parametrize(("text", "fragment"), [
    ("LastName + 1", "operator '+'. Expected Number, Date or DateTime, received Text and Number"),
    ("Amount__c = 'x'", "operator '='. Expected Number, received Text"),
    ("Birthdate > 5", "operator '>'. Expected Date, received Number"),
    ("Amount__c && TRUE", "operator '&&'. Expected Boolean, received Number"),
    ("LEN(Amount__c)", "function 'LEN()'. Expected Text, received Number"),
    ("NOT(Email)", "function 'NOT()'. Expected Boolean, received Text"),
    ("ISPICKVAL(LastName, 'x')", "function 'ISPICKVAL()'. Expected Picklist, received Text"),
    ("IF(TRUE, 1, 'one')", "function 'IF()'. Expected Number, received Text"),
    ("Score__c & 'x'", "operator '&'. Expected Text, received Number"),
    ("YEAR(Email)", "function 'YEAR()'. Expected Date, received Text"),
])
def test_type_errors(contact: ObjectSpec, text: str, fragment: str) -> None:
    assert f"Incorrect parameter type for {fragment}" in str(error_of(text, contact))


@pytest.mark.parametrize(("text", "message"), [
    ("ISCHANGED(Account.Name)", "Function 'ISCHANGED()' needs a field of this object as its "
                                "parameter at column 11"),
    ("PRIORVALUE(1)", "Function 'PRIORVALUE()' needs a field of this object as its parameter "
                      "at column 12"),
    ("REGEX(Email, '[a-')", "Invalid regular expression '[a-' at column 14"),
    ("$Bogus.Thing", "Unknown global variable '$Bogus' at column 1"),
])
def test_other_compile_errors(contact: ObjectSpec, text: str, message: str) -> None:
    assert str(error_of(text, contact)) == message


def test_formula_error_is_a_value_error() -> None:
    assert issubclass(FormulaError, ValueError)


# ----------------------------------------------------------------------------------------------
# Without a schema
# ----------------------------------------------------------------------------------------------

def test_compile_without_object_accepts_any_field() -> None:
    formula = compile_formula("AND(ISPICKVAL(Status__c, 'Open'), Amount > 10, DueDate < TODAY())")
    assert formula.referenced_fields() == {"Status__c", "Amount", "DueDate"}
    record = {"Status__c": "Open", "Amount": 12.5, "DueDate": "2024-03-01"}
    assert formula.evaluate(record, now=NOW) is True
    assert formula.evaluate(dict(record, DueDate="2024-04-01"), now=NOW) is False
    assert formula.evaluate(dict(record, Amount=None), now=NOW) is False
    assert formula.result_type == "Boolean"
    assert compile_formula("Foo").result_type == "Any"


def test_untyped_values_coerce_by_shape() -> None:
    record = {"Due": "2024-01-31", "Stamp": "2024-01-01T00:00:00.000+0000",
              "Other": "2023-12-31T12:00:00Z", "Name": "x", "Flag": True}
    assert compile_formula("Due + 1").evaluate(record) == "2024-02-01"
    assert compile_formula("Due - DATE(2024, 1, 1)").evaluate(record) == 30
    assert compile_formula("Stamp - Other").evaluate(record) == 0.5
    assert compile_formula("Stamp + 1").evaluate(record) == "2024-01-02T00:00:00.000+0000"
    assert compile_formula("Name + 1").evaluate(record) is None  # no sensible meaning: blank
    assert compile_formula("Name = 1").evaluate(record) is False
    assert compile_formula("Flag && Name = 'x'").evaluate(record) is True


def test_object_name_prefix_and_picklist_as_text(ev, contact: ObjectSpec) -> None:
    formula = compile_formula("Contact.LastName = 'Smith'", contact)
    assert formula.referenced_fields() == {"LastName"}
    assert formula.evaluate({"LastName": "Smith"}) is True
    # Salesforce insists on ISPICKVAL/TEXT for picklists; the sandbox also accepts plain '='
    assert ev("LeadSource = 'Web' && TEXT(LeadSource) = 'Web'", {"LeadSource": "Web"}) is True


def test_referenced_fields_are_canonical(contact: ObjectSpec) -> None:
    formula = compile_formula("ISBLANK(EMAIL) || amount__C > 1 || ISCHANGED(phone)", contact)
    assert formula.referenced_fields() == {"Email", "Amount__c", "Phone"}
    assert compile_formula("1 + 1", contact).referenced_fields() == set()
    # a copy: callers may not change the formula's own set
    formula.referenced_fields().add("X")
    assert "X" not in formula.referenced_fields()


# ----------------------------------------------------------------------------------------------
# Realistic validation rules
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "record", "fires"), [
    ("AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email))",
     {"LeadSource": "Web", "Email": None}, True),
    ("AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email))",
     {"LeadSource": "Web", "Email": "a@b.com"}, False),
    ("AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email))",
     {"LeadSource": "Other", "Email": ""}, False),
    ('NOT(REGEX(Email, "[^@]+@[^@]+\\\\.[a-z]+"))', {"Email": "bob@example.com"}, False),
    ('NOT(REGEX(Email, "[^@]+@[^@]+\\\\.[a-z]+"))', {"Email": "bob@example"}, True),
    ('NOT(REGEX(Email, "[^@]+@[^@]+\\\\.[a-z]+"))', {"Email": "bob@example.COM"}, True),
    ('NOT(REGEX(Email, "[^@]+@[^@]+\\\\.[a-z]+"))', {"Email": None}, True),
    ("LEN(Phone) < 10 && NOT(ISBLANK(Phone))", {"Phone": "555-123"}, True),
    ("LEN(Phone) < 10 && NOT(ISBLANK(Phone))", {"Phone": "(555) 123-4567"}, False),
    ("LEN(Phone) < 10 && NOT(ISBLANK(Phone))", {"Phone": None}, False),
    ("AND(NOT(ISNEW()), ISCHANGED(LastName), PRIORVALUE(LastName) = 'Locked')",
     {"LastName": "New"}, False),
    ("Birthdate > TODAY()", {"Birthdate": "2030-01-01"}, True),
    ("Amount__c < 0 || Amount__c > 1000000", {"Amount__c": -5}, True),
    ("Amount__c < 0 || Amount__c > 1000000", {"Amount__c": None}, False),
    ("AND(DoNotCall, NOT(ISBLANK(Phone)))", {"DoNotCall": True, "Phone": "1"}, True),
    ("AND(DoNotCall, NOT(ISBLANK(Phone)))", {"Phone": "1"}, False),
    ("""/* Web leads need a valid email and a proper last name */
        AND(
            CASE(LeadSource, 'Web', 1, 'Phone Inquiry', 1, 0) = 1,
            OR(ISBLANK(Email), LEN(TRIM(LastName)) < 2)
        )""", {"LeadSource": "Phone Inquiry", "LastName": " X ", "Email": "x@y.z"}, True),
])
def test_realistic_rules(contact: ObjectSpec, rule: str, record: dict[str, Any],
                         fires: bool) -> None:
    formula = compile_formula(rule, contact)
    assert is_true(formula.evaluate(record, now=NOW)) is fires


def test_locked_name_rule_on_update(contact: ObjectSpec) -> None:
    rule = compile_formula(
        "AND(NOT(ISNEW()), ISCHANGED(LastName), PRIORVALUE(LastName) = 'Locked')", contact)
    prior = {"LastName": "Locked"}
    assert rule.evaluate({"LastName": "New"}, prior=prior, is_new=False) is True
    assert rule.evaluate({"LastName": "Locked"}, prior=prior, is_new=False) is False
    assert rule.evaluate({"LastName": "New"}, prior={"LastName": "Other"}, is_new=False) is False


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (None, False), (1, False), ("true", False), ("", False),
])
def test_is_true(value: Any, expected: bool) -> None:
    assert is_true(value) is expected


# ----------------------------------------------------------------------------------------------
# Reuse and speed
# ----------------------------------------------------------------------------------------------

def test_formula_is_reusable_and_describes_itself(contact: ObjectSpec) -> None:
    formula = compile_formula("ISBLANK(Email)", contact)
    assert isinstance(formula, Formula)
    assert formula.text == "ISBLANK(Email)"
    assert formula.object_name == "Contact"
    assert "ISBLANK(Email)" in repr(formula)
    results = [formula.evaluate({"Email": e}) for e in (None, "a@b.c", "", "x")]
    assert results == [True, False, True, False]
    # the same text compiles against another object independently
    account = load_schema(SCHEMA_DOC).object("Account")
    assert account is not None
    with pytest.raises(FormulaError, match="Unknown field 'Email' on Account"):
        compile_formula("ISBLANK(Email)", account)


def test_long_operator_chains_and_deep_nesting() -> None:
    # Salesforce allows 3,900 characters: a 1,500-term chain must not overflow the stack
    assert compile_formula(" + ".join(["X"] * 1500)).evaluate({"X": 2}) == 3000
    assert compile_formula(" && ".join(["X = 2"] * 1500)).evaluate({"X": 2}) is True
    assert compile_formula("1 + 2 + X * 2").evaluate({"X": 3}) == 9  # partly constant-folded
    with pytest.raises(FormulaError, match="nests functions too deeply"):
        compile_formula("IF(TRUE, " * 600 + "1" + ", 0)" * 600)


def test_evaluation_over_five_thousand_records(contact: ObjectSpec) -> None:
    formula = compile_formula(
        "OR(AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email)), "
        "NOT(REGEX(Email, '[^@]+@[^@]+\\\\.[a-z]+')), LEN(Phone) < 10 && NOT(ISBLANK(Phone)), "
        "Amount__c * 1.1 > 1000, Birthdate > TODAY())", contact)
    records = [{"LeadSource": "Web", "Email": f"user{i}@example.com", "Phone": "5551234567",
                "Amount__c": i * 0.5, "Birthdate": "1990-01-01"} for i in range(5000)]
    fired = sum(is_true(formula.evaluate(r, now=NOW)) for r in records)    # speed: a benchmark's to judge, not a test's
    assert fired == sum(1 for i in range(5000) if i * 0.5 * 1.1 > 1000)
