"""Tests for the sandbox's SOQL parser and evaluator (isyncsf_desktop.sandbox.soql)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from isyncsf_desktop.sandbox import soql
from isyncsf_desktop.sandbox.ids import make_id
from isyncsf_desktop.sandbox.schema import Schema, load_schema
from isyncsf_desktop.sandbox.soql import (
    BoolExpr,
    Comparison,
    CountItem,
    FieldPath,
    NotExpr,
    QueryResult,
    SoqlError,
    parse_soql,
    run_query,
)

SCHEMA_DOC: dict[str, Any] = {
    "objects": {
        "Account": {
            "keyPrefix": "001",
            "owned": True,
            "fields": {
                "Name": {"type": "string", "required": True},
                "ParentId": {"type": "reference", "referenceTo": ["Account"], "relationshipName": "Parent"},
                "Industry": {"type": "picklist", "values": ["Tech", "Retail", "Energy"]},
                "AnnualRevenue": {"type": "currency"},
                "NumberOfEmployees": {"type": "int"},
                "External_Id__c": {"type": "string", "externalId": True},
                "IsActive__c": {"type": "boolean"},
                "Description": {"type": "textarea"},
                "Regions__c": {"type": "multipicklist", "values": ["EMEA", "APAC", "AMER"]},
            },
        },
        "Contact": {
            "keyPrefix": "003",
            "owned": True,
            "fields": {
                "Name": {"type": "string", "calculated": True},
                "FirstName": {"type": "string"},
                "LastName": {"type": "string", "required": True},
                "Email": {"type": "email"},
                "AccountId": {"type": "reference", "referenceTo": ["Account"], "relationshipName": "Account"},
                "Birthdate": {"type": "date"},
            },
        },
        "User": {
            "keyPrefix": "005",
            "fields": {
                "Name": {"type": "string"},
                "Username": {"type": "string", "required": True},
                "Email": {"type": "email"},
            },
        },
        "Task": {
            "keyPrefix": "00T",
            "owned": True,
            "nameField": "Subject",
            "fields": {
                "Subject": {"type": "string"},
                "WhatId": {"type": "reference", "referenceTo": ["Account", "Contact"], "relationshipName": "What"},
            },
        },
    }
}

URL = "/services/data/v59.0/sobjects"


class MemorySource:
    """An in-memory QuerySource: rows per object keyed by id, counting get() calls."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in schema.objects}
        self.counter = 0
        self.get_calls = 0

    def add(self, object_name: str, **values: Any) -> dict[str, Any]:
        spec = self.schema.objects[object_name]
        self.counter += 1
        row: dict[str, Any] = {name: None for name in spec.fields}
        row.update(Id=make_id(spec.key_prefix, "0A", self.counter), IsDeleted=False,
                   CreatedDate="2024-01-01T00:00:00.000+0000")
        row.update(values)
        self.tables[object_name][row["Id"]] = row
        return row

    def rows(self, object_name: str) -> list[dict[str, Any]]:
        return list(self.tables[object_name].values())

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        self.get_calls += 1
        return self.tables[object_name].get(record_id)


@pytest.fixture()
def org() -> dict[str, Any]:
    """A small org: two users, five accounts (one deleted), four contacts (one deleted), two tasks."""
    src = MemorySource(load_schema(SCHEMA_DOC))
    ada = src.add("User", Name="Ada Lovelace", Username="ada@example.com", Email="ada@example.com")
    bob = src.add("User", Name="Bob Stone", Username="bob@example.com", Email="bob@example.com")
    acme = src.add("Account", Name="Acme", Industry="Tech", AnnualRevenue=5_000_000.0, NumberOfEmployees=100,
                   External_Id__c="EXT-1", OwnerId=ada["Id"], IsActive__c=True, Regions__c="EMEA;APAC",
                   CreatedDate="2024-01-15T09:30:00.000+0000")
    globex = src.add("Account", Name="Globex", Industry="Retail", AnnualRevenue=250_000.0, NumberOfEmployees=20,
                     OwnerId=bob["Id"], ParentId=acme["Id"], IsActive__c=False, Regions__c="AMER",
                     CreatedDate="2024-01-31T10:00:00.000+0000")
    initech = src.add("Account", Name="initech", OwnerId=ada["Id"], ParentId=globex["Id"], IsActive__c=True,
                      CreatedDate="2024-02-01T00:00:00.000+0000")
    pure = src.add("Account", Name="100% Pure_Co", Industry="Energy", AnnualRevenue=1000.0, NumberOfEmployees=3,
                   OwnerId=bob["Id"], IsActive__c=False, CreatedDate="2024-03-10T12:00:00.000+0000")
    zombie = src.add("Account", Name="Zombie Corp", Industry="Tech", OwnerId=ada["Id"], IsDeleted=True)
    jane = src.add("Contact", Name="Jane Smith", FirstName="Jane", LastName="Smith", Email="jane@acme.com",
                   AccountId=acme["Id"], OwnerId=ada["Id"], Birthdate="1990-05-01")
    pat = src.add("Contact", Name="Pat O'Brien", FirstName="Pat", LastName="O'Brien", AccountId=globex["Id"],
                  OwnerId=bob["Id"])
    nobody = src.add("Contact", Name="Nobody", LastName="Nobody", OwnerId=ada["Id"], Birthdate="1985-12-31")
    ghost = src.add("Contact", Name="Ghost", LastName="Ghost", AccountId=initech["Id"], OwnerId=ada["Id"],
                    IsDeleted=True)
    call = src.add("Task", Subject="Call", WhatId=acme["Id"], OwnerId=ada["Id"])
    email = src.add("Task", Subject="Email", WhatId=jane["Id"], OwnerId=ada["Id"])
    return dict(src=src, ada=ada, bob=bob, acme=acme, globex=globex, initech=initech, pure=pure, zombie=zombie,
                jane=jane, pat=pat, nobody=nobody, ghost=ghost, call=call, email=email)


def q(org: dict[str, Any], text: str, **kwargs: Any) -> QueryResult:
    return run_query(text, org["src"], **kwargs)


def names(org: dict[str, Any], text: str, key: str = "Name", **kwargs: Any) -> list[Any]:
    return [record[key] for record in q(org, text, **kwargs).records]


def error_of(org: dict[str, Any], text: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        run_query(text, org["src"])
    return info.value


def attrs(type_name: str, record_id: str) -> dict[str, str]:
    return {"type": type_name, "url": f"{URL}/{type_name}/{record_id}"}


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def test_parse_structure() -> None:
    query = parse_soql("SELECT Id, Account.Owner.Name FROM Contact WHERE (LastName = 'x' OR Birthdate > 2000-01-01)"
                       " AND NOT Email IN ('a', 'b') ORDER BY LastName DESC NULLS FIRST, Id LIMIT 5 OFFSET 2")
    assert query.object_name == "Contact"
    assert (query.object_line, query.object_column) == (1, 36)
    assert query.select == (FieldPath(("Id",), 1, 8), FieldPath(("Account", "Owner", "Name"), 1, 12))
    assert isinstance(query.where, BoolExpr) and query.where.op == "AND"
    left, right = query.where.items
    assert isinstance(left, BoolExpr) and left.op == "OR"
    assert isinstance(right, NotExpr) and isinstance(right.item, Comparison)
    assert right.item.op == "IN" and [lit.value for lit in right.item.value] == ["a", "b"]
    assert [(o.field.dotted, o.descending, o.nulls_first) for o in query.order_by] == [
        ("LastName", True, True), ("Id", False, True)]
    assert (query.limit, query.offset, query.count) == (5, 2, False)


def test_parse_keywords_are_case_insensitive() -> None:
    lower = parse_soql("select id from account where name like 'a%' and isactive__c = true order by name desc "
                       "nulls last limit 1 offset 0")
    upper = parse_soql("SELECT id FROM account WHERE name LIKE 'a%' AND isactive__c = true ORDER BY name DESC "
                       "NULLS LAST LIMIT 1 OFFSET 0")
    assert lower == upper
    assert lower.order_by[0].nulls_first is False


def test_parse_count_forms_and_caching() -> None:
    count = parse_soql("SELECT COUNT() FROM Account")
    assert count.count and count.select == (CountItem(None, None, 1, 8),)
    agg = parse_soql("SELECT count(Id) total, COUNT(Name) FROM Account")
    assert agg.is_aggregate and not agg.count
    assert [(i.field.dotted, i.alias) for i in agg.select] == [("Id", "total"), ("Name", None)]
    assert parse_soql("SELECT COUNT() FROM Account") is count


def test_parse_literals() -> None:
    query = parse_soql(r"SELECT Id FROM X WHERE a = 'it\'s \\ \n \"q\"' AND b = -1.5 AND c = 42 AND d = 2024-01-31"
                       r" AND e = 2024-01-31T10:00:00+05:30 AND f = null AND g = FALSE AND h = LAST_N_DAYS:7")
    assert isinstance(query.where, BoolExpr)
    values = [item.value for item in query.where.items]
    assert [(v.kind, v.value) for v in values[:4]] == [
        ("string", "it's \\ \n \"q\""), ("number", -1.5), ("number", 42), ("date", date(2024, 1, 31))]
    assert values[4].kind == "datetime" and values[4].value.isoformat() == "2024-01-31T10:00:00+05:30"
    assert [(v.kind, v.value) for v in values[5:]] == [
        ("null", None), ("boolean", False), ("date_literal", ("LAST_N_DAYS", 7))]


def test_parse_keyword_like_object_names() -> None:
    # ORDER is only a keyword where ORDER BY may follow; elsewhere it is a name.
    query = parse_soql("SELECT Order.Name FROM Order ORDER BY Name")
    assert query.object_name == "Order" and query.select[0].parts == ("Order", "Name")
    assert query.order_by[0].field.parts == ("Name",)


@pytest.mark.parametrize("text, column, fragment", [
    ("SELECT Id FROM", 15, "unexpected token: '<EOF>'"),
    ("SELECT FROM Account", 13, "unexpected token: 'Account'"),
    ("SELECT Id, FROM Account", 17, "unexpected token: 'Account'"),
    ("SELECT Id FROM Account WHERE", 29, "unexpected token: '<EOF>'"),
    ("SELECT Id FROM Account WHERE Name = \"x\"", 37, "unexpected token: '\"'"),
    ("SELECT Id FROM Account WHERE Name = 'abc", 37, "unterminated string literal"),
    ("SELECT Id FROM Account WHERE Name 'x'", 35, "unexpected token: ''x''"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", 54,
     "unexpected token: 'OR' (use parentheses when mixing AND and OR)"),
    ("SELECT Id FROM Account LIMIT 1.5", 30, "LIMIT must be a non-negative integer"),
    ("SELECT Id FROM Account LIMIT -1", 30, "LIMIT must be a non-negative integer"),
    ("SELECT Id FROM Account OFFSET 1 LIMIT 1", 33, "unexpected token: 'LIMIT'"),
    ("SELECT Id FROM Account WHERE Name = foo", 37, "unexpected token: 'foo'"),
    ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS", 44, "needs a number"),
    ("SELECT Id FROM Account WHERE CreatedDate = TODAY:3", 44, "does not take a number"),
    ("SELECT Id FROM Account WHERE Birthdate = 2024-02-30", 42, "invalid date: 2024-02-30"),
    ("SELECT Id FROM Account WHERE Name = 'a\\qb'", 37, "Illegal character sequence '\\q'"),
    ("SELECT COUNT(), Name FROM Account", 17, "COUNT() must be the only element"),
    ("", 1, "unexpected token: '<EOF>'"),
])
def test_syntax_errors(text: str, column: int, fragment: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse_soql(text)
    assert info.value.error_code == "MALFORMED_QUERY"
    assert f"ERROR at Row:1:Column:{column}\n" in info.value.message
    assert fragment in info.value.message


@pytest.mark.parametrize("text, token, column, what", [
    ("SELECT Id FROM Account WHERE Name = 'x' HAVING", "HAVING", 41, "HAVING"),
    ("SELECT FORMAT(AnnualRevenue) FROM Account", "(", 8, "function FORMAT()"),
])
def test_unsupported_constructs_are_malformed(text: str, token: str, column: int, what: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse_soql(text)
    assert info.value.error_code == "MALFORMED_QUERY"
    assert f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'" in info.value.message
    assert what in info.value.message and "not supported" in info.value.message


def test_error_message_layout_multiline() -> None:
    with pytest.raises(SoqlError) as info:
        parse_soql("SELECT Id\nFROM Account\nWHERE Name = 'a' AND\n  Id = 'b' OR Id = 'c'")
    assert info.value.message == (
        "\n  Id = 'b' OR Id = 'c'\n           ^\nERROR at Row:4:Column:12\n"
        "unexpected token: 'OR' (use parentheses when mixing AND and OR)")
    assert str(info.value).startswith("MALFORMED_QUERY: ")


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def test_simple_select_shape_and_canonical_names(org: dict[str, Any]) -> None:
    acme = org["acme"]
    result = q(org, "select name, id, annualrevenue, INDUSTRY from account where External_Id__c = 'ext-1'")
    assert result.total_size == 1
    assert result.records == [{"attributes": attrs("Account", acme["Id"]), "Name": "Acme", "Id": acme["Id"],
                               "AnnualRevenue": 5_000_000.0, "Industry": "Tech"}]
    assert list(result.records[0]) == ["attributes", "Name", "Id", "AnnualRevenue", "Industry"]


def test_api_version_and_url_prefix(org: dict[str, Any]) -> None:
    result = q(org, "SELECT Id FROM User WHERE Name = 'Ada Lovelace'", api_version="52.0",
               url_prefix="tooling/sobjects")
    assert result.records[0]["attributes"] == {
        "type": "User", "url": f"/services/data/v52.0/tooling/sobjects/User/{org['ada']['Id']}"}


def test_parent_paths_nest_and_merge(org: dict[str, Any]) -> None:
    jane, acme, ada = org["jane"], org["acme"], org["ada"]
    result = q(org, "SELECT Id, Account.Name, Account.Owner.Name, LastName, Account.Industry, account.owner.email "
                    "FROM Contact WHERE LastName = 'Smith'")
    assert result.records == [{
        "attributes": attrs("Contact", jane["Id"]),
        "Id": jane["Id"],
        "Account": {"attributes": attrs("Account", acme["Id"]), "Name": "Acme",
                    "Owner": {"attributes": attrs("User", ada["Id"]), "Name": "Ada Lovelace",
                              "Email": "ada@example.com"},
                    "Industry": "Tech"},
        "LastName": "Smith",
    }]
    assert list(result.records[0]) == ["attributes", "Id", "Account", "LastName"]


def test_null_parent_gives_null(org: dict[str, Any]) -> None:
    result = q(org, "SELECT LastName, Account.Name, Account.Owner.Name FROM Contact WHERE LastName = 'Nobody'")
    assert result.records == [{"attributes": attrs("Contact", org["nobody"]["Id"]), "LastName": "Nobody",
                               "Account": None}]


def test_self_relationship_any_depth(org: dict[str, Any]) -> None:
    records = q(org, "SELECT Name, Parent.Name, Parent.Parent.Name, Parent.Parent.Owner.Username FROM Account "
                     "ORDER BY Name").records
    by_name = {r["Name"]: r for r in records}
    initech = by_name["initech"]
    assert initech["Parent"]["Name"] == "Globex"
    assert initech["Parent"]["Parent"] == {
        "attributes": attrs("Account", org["acme"]["Id"]), "Name": "Acme",
        "Owner": {"attributes": attrs("User", org["ada"]["Id"]), "Username": "ada@example.com"}}
    assert by_name["Globex"]["Parent"]["Parent"] is None
    assert by_name["Acme"]["Parent"] is None


def test_polymorphic_reference_uses_key_prefix(org: dict[str, Any]) -> None:
    records = q(org, "SELECT Subject, What.Name, What.Id FROM Task ORDER BY Subject").records
    assert records == [
        {"attributes": attrs("Task", org["call"]["Id"]), "Subject": "Call",
         "What": {"attributes": attrs("Account", org["acme"]["Id"]), "Name": "Acme", "Id": org["acme"]["Id"]}},
        {"attributes": attrs("Task", org["email"]["Id"]), "Subject": "Email",
         "What": {"attributes": attrs("Contact", org["jane"]["Id"]), "Name": "Jane Smith",
                  "Id": org["jane"]["Id"]}},
    ]
    assert names(org, "SELECT Subject FROM Task WHERE What.Name = 'jane smith'", "Subject") == ["Email"]


def test_polymorphic_paths_read_the_name_entity(org: dict[str, Any]) -> None:
    records = q(org, "SELECT Subject, What.Type, What.Name, What.Email FROM Task ORDER BY Subject").records
    assert [r["What"] for r in records] == [
        {"attributes": attrs("Account", org["acme"]["Id"]), "Type": "Account", "Name": "Acme", "Email": None},
        {"attributes": attrs("Contact", org["jane"]["Id"]), "Type": "Contact", "Name": "Jane Smith",
         "Email": "jane@acme.com"}]
    assert names(org, "SELECT Subject FROM Task WHERE What.Type = 'Contact'", "Subject") == ["Email"]
    assert names(org, "SELECT Subject FROM Task WHERE What.Type IN ('Account', 'Opportunity')", "Subject") == ["Call"]
    grouped = q(org, "SELECT What.Type, COUNT(Id) n FROM Task GROUP BY What.Type ORDER BY What.Type").records
    assert [(r["Type"], r["n"]) for r in grouped] == [("Account", 1), ("Contact", 1)]
    with pytest.raises(SoqlError) as info:                 # type-specific fields need TYPEOF
        q(org, "SELECT What.Industry FROM Task")
    assert info.value.error_code == "INVALID_FIELD" and "No such column 'Industry' on entity 'Name'" in info.value.message
    with pytest.raises(SoqlError) as info:
        q(org, "SELECT What.Owner.Name FROM Task")
    assert "Didn't understand relationship 'Owner'" in info.value.message


def test_typeof_picks_the_fields_of_each_records_parent_type(org: dict[str, Any]) -> None:
    src = org["src"]
    orphan = src.add("Task", Subject="Orphan", OwnerId=org["ada"]["Id"])
    text = ("SELECT Subject, TYPEOF What WHEN Account THEN Name, Industry, Owner.Username WHEN Contact THEN Email "
            "END FROM Task ORDER BY Subject")
    assert q(org, text).records == [
        {"attributes": attrs("Task", org["call"]["Id"]), "Subject": "Call",
         "What": {"attributes": attrs("Account", org["acme"]["Id"]), "Name": "Acme", "Industry": "Tech",
                  "Owner": {"attributes": attrs("User", org["ada"]["Id"]), "Username": "ada@example.com"}}},
        {"attributes": attrs("Task", org["email"]["Id"]), "Subject": "Email",
         "What": {"attributes": attrs("Contact", org["jane"]["Id"]), "Email": "jane@acme.com"}},
        {"attributes": attrs("Task", orphan["Id"]), "Subject": "Orphan", "What": None},
    ]
    # ELSE covers the types no WHEN names; with neither, the parent comes with its attributes only.
    records = q(org, "SELECT TYPEOF What WHEN Account THEN Name ELSE Id, Type, Email END FROM Task "
                     "ORDER BY Subject").records
    assert [r["What"] for r in records[:2]] == [
        {"attributes": attrs("Account", org["acme"]["Id"]), "Name": "Acme"},
        {"attributes": attrs("Contact", org["jane"]["Id"]), "Id": org["jane"]["Id"], "Type": "Contact",
         "Email": "jane@acme.com"}]
    records = q(org, "SELECT TYPEOF What WHEN Account THEN Name END FROM Task ORDER BY Subject").records
    assert records[1]["What"] == {"attributes": attrs("Contact", org["jane"]["Id"])}
    # The keys come in SELECT-list order, TYPEOF and subqueries included.
    record = q(org, "SELECT Id, TYPEOF What WHEN Account THEN Name END, Owner.Username, Subject FROM Task "
                    "ORDER BY Subject LIMIT 1").records[0]
    assert list(record) == ["attributes", "Id", "What", "Owner", "Subject"]
    account = q(org, "SELECT Name, (SELECT Subject FROM Tasks), Industry FROM Account WHERE Name = 'Acme'").records[0]
    assert list(account) == ["attributes", "Name", "Tasks", "Industry"]


@pytest.mark.parametrize("text, code, fragment", [
    ("SELECT TYPEOF Parent WHEN Account THEN Name END FROM Account", "INVALID_FIELD",
     "only be used on a polymorphic relationship"),
    ("SELECT TYPEOF What WHEN User THEN Name END FROM Task", "INVALID_TYPE", "User is not one of the objects"),
    ("SELECT TYPEOF What WHEN Account THEN Nope__c END FROM Task", "INVALID_FIELD", "No such column 'Nope__c'"),
    ("SELECT TYPEOF What WHEN Account THEN Name ELSE Nope__c END FROM Task", "INVALID_FIELD", "No such column"),
    ("SELECT What.Name, TYPEOF What WHEN Account THEN Name END FROM Task", "MALFORMED_QUERY", "also the field"),
    ("SELECT TYPEOF What WHEN Account THEN Name WHEN account THEN Id END FROM Task", "MALFORMED_QUERY", "twice"),
    ("SELECT TYPEOF What WHEN Account THEN Name END, COUNT(Id) FROM Task GROUP BY What.Name", "MALFORMED_QUERY",
     "GROUP BY"),
    ("SELECT Name, (SELECT TYPEOF What WHEN Account THEN Name END FROM Tasks) FROM Account", "MALFORMED_QUERY",
     "only plain fields"),
])
def test_typeof_errors(org: dict[str, Any], text: str, code: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as info:
        q(org, text)
    assert info.value.error_code == code and fragment in info.value.message


def test_typeof_syntax() -> None:
    for text in ("SELECT TYPEOF What WHEN Account THEN Name FROM Task",      # no END
                 "SELECT TYPEOF What END FROM Task",                         # no WHEN
                 "SELECT TYPEOF What WHEN Account THEN END FROM Task"):     # no field
        with pytest.raises(SoqlError) as info:
            parse_soql(text)
        assert info.value.error_code == "MALFORMED_QUERY"


def test_alias_and_object_qualified_fields(org: dict[str, Any]) -> None:
    assert names(org, "SELECT a.Name FROM Account a WHERE a.Industry = 'Tech'") == ["Acme"]
    assert names(org, "SELECT Account.Name FROM Account WHERE Account.Industry = 'Retail'") == ["Globex"]


# ---------------------------------------------------------------------------------------------
# COUNT
# ---------------------------------------------------------------------------------------------


def test_count_only(org: dict[str, Any]) -> None:
    assert q(org, "SELECT COUNT() FROM Account") == QueryResult([], 4)
    assert q(org, "SELECT COUNT() FROM Account WHERE IsActive__c = true") == QueryResult([], 2)
    assert q(org, "SELECT COUNT() FROM Account LIMIT 3") == QueryResult([], 3)
    assert q(org, "SELECT COUNT() FROM Account", include_deleted=True) == QueryResult([], 5)


def test_count_field_aggregate(org: dict[str, Any]) -> None:
    assert q(org, "SELECT COUNT(Id) FROM Account WHERE Industry != null") == QueryResult(
        [{"attributes": {"type": "AggregateResult"}, "expr0": 3}], 1)
    result = q(org, "SELECT COUNT(Id), COUNT(Industry) n, COUNT(ParentId) FROM Account")
    assert result.records == [{"attributes": {"type": "AggregateResult"}, "expr0": 4, "n": 3, "expr1": 2}]


def test_count_field_errors(org: dict[str, Any]) -> None:
    err = error_of(org, "SELECT COUNT(Id), Name FROM Account")
    assert err.error_code == "MALFORMED_QUERY"
    assert "Column:19\nField must be grouped or aggregated: Name" in err.message
    err = error_of(org, "SELECT COUNT(Foo) FROM Account")
    assert err.error_code == "INVALID_FIELD" and "Column:14\nNo such column 'Foo'" in err.message


# ---------------------------------------------------------------------------------------------
# WHERE
# ---------------------------------------------------------------------------------------------

ACCOUNTS = "SELECT Name FROM Account WHERE "


@pytest.mark.parametrize("where, expected", [
    ("AnnualRevenue = 250000", ["Globex"]),
    ("AnnualRevenue != 250000", ["Acme", "initech", "100% Pure_Co"]),
    ("AnnualRevenue <> 250000", ["Acme", "initech", "100% Pure_Co"]),
    ("AnnualRevenue < 250000", ["100% Pure_Co"]),
    ("AnnualRevenue <= 250000", ["Globex", "100% Pure_Co"]),
    ("AnnualRevenue > 250000.0", ["Acme"]),
    ("AnnualRevenue >= 250000", ["Acme", "Globex"]),
    ("NumberOfEmployees IN (3, 100)", ["Acme", "100% Pure_Co"]),
    ("NumberOfEmployees NOT IN (3, 100)", ["Globex", "initech"]),
    ("AnnualRevenue = null", ["initech"]),
    ("AnnualRevenue != NULL", ["Acme", "Globex", "100% Pure_Co"]),
    ("Name = 'ACME'", ["Acme"]),
    ("Name != 'acme'", ["Globex", "initech", "100% Pure_Co"]),
    ("Industry != 'Tech'", ["Globex", "initech", "100% Pure_Co"]),
    ("Industry IN ('tech', 'RETAIL')", ["Acme", "Globex"]),
    ("Industry NOT IN ('tech', 'RETAIL')", ["initech", "100% Pure_Co"]),
    ("Industry IN ('Tech', null)", ["Acme", "initech"]),
    ("Name > 'globex'", ["initech"]),
    ("Name < 'B'", ["Acme", "100% Pure_Co"]),
    ("IsActive__c = TRUE", ["Acme", "initech"]),
    ("IsActive__c = false", ["Globex", "100% Pure_Co"]),
    ("IsActive__c != true", ["Globex", "100% Pure_Co"]),
    ("NOT Industry = 'Tech'", ["Globex", "initech", "100% Pure_Co"]),
    ("NOT (Industry = 'Tech' OR Industry = 'Retail')", ["initech", "100% Pure_Co"]),
    ("Industry = 'Tech' OR Industry = 'Retail' OR Name = 'initech'", ["Acme", "Globex", "initech"]),
    ("(Industry = 'Tech' OR Industry = 'Retail') AND AnnualRevenue < 1000000", ["Globex"]),
    ("Industry = 'Tech' OR (Industry = 'Retail' AND AnnualRevenue > 1000000)", ["Acme"]),
    ("((Name = 'Acme'))", ["Acme"]),
    ("Parent.Name = 'acme'", ["Globex"]),
    ("Parent.Parent.Name = 'Acme'", ["initech"]),
    ("Owner.Name = 'Bob Stone'", ["Globex", "100% Pure_Co"]),
    ("Parent.Name = null", ["Acme", "100% Pure_Co"]),
    ("Regions__c INCLUDES ('apac', 'AMER;EMEA')", ["Acme"]),
    ("Regions__c INCLUDES ('AMER')", ["Globex"]),
    ("Regions__c EXCLUDES ('EMEA')", ["Globex", "initech", "100% Pure_Co"]),
    ("Regions__c = 'APAC;EMEA'", ["Acme"]),
])
def test_where_operators(org: dict[str, Any], where: str, expected: list[str]) -> None:
    assert names(org, ACCOUNTS + where) == expected


@pytest.mark.parametrize("pattern, expected", [
    ("'a%'", ["Acme"]),
    ("'%E%'", ["Acme", "Globex", "initech", "100% Pure_Co"]),
    ("'%EX'", ["Globex"]),
    ("'_lobex'", ["Globex"]),
    ("'G_X'", []),
    ("'%'", ["Acme", "Globex", "initech", "100% Pure_Co"]),
    (r"'100\% Pure\_Co'", ["100% Pure_Co"]),
    (r"'%\%%'", ["100% Pure_Co"]),
    (r"'%\_%'", ["100% Pure_Co"]),
    ("'INITECH'", ["initech"]),
])
def test_like(org: dict[str, Any], pattern: str, expected: list[str]) -> None:
    assert names(org, ACCOUNTS + "Name LIKE " + pattern) == expected


def test_like_never_matches_null_and_not_like(org: dict[str, Any]) -> None:
    assert names(org, ACCOUNTS + "Industry LIKE '%'") == ["Acme", "Globex", "100% Pure_Co"]
    assert names(org, ACCOUNTS + "NOT Industry LIKE 't%'") == ["Globex", "initech", "100% Pure_Co"]


def test_string_escapes_in_filters(org: dict[str, Any]) -> None:
    assert names(org, r"SELECT LastName FROM Contact WHERE LastName = 'o\'brien'", "LastName") == ["O'Brien"]


def test_date_and_datetime_comparisons(org: dict[str, Any]) -> None:
    contacts = "SELECT LastName FROM Contact WHERE "
    assert names(org, contacts + "Birthdate > 1988-01-01", "LastName") == ["Smith"]
    assert names(org, contacts + "Birthdate <= 1990-05-01", "LastName") == ["Smith", "Nobody"]
    assert names(org, contacts + "Birthdate = null", "LastName") == ["O'Brien"]
    assert names(org, contacts + "Birthdate IN (1985-12-31, 2000-01-01)", "LastName") == ["Nobody"]
    # Datetimes compare as instants, whatever the offset is written in.
    assert names(org, ACCOUNTS + "CreatedDate = 2024-01-31T10:00:00Z") == ["Globex"]
    assert names(org, ACCOUNTS + "CreatedDate = 2024-01-31T11:00:00+01:00") == ["Globex"]
    assert names(org, ACCOUNTS + "CreatedDate = 2024-01-31T05:00:00-05:00") == ["Globex"]
    assert names(org, ACCOUNTS + "CreatedDate > 2024-01-31T10:00:00Z") == ["initech", "100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate >= 2024-01-31T10:00:00Z") == ["Globex", "initech", "100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate < 2024-02-01T01:00:00+01:00") == ["Acme", "Globex"]


def test_relative_date_literals(org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soql, "_today", lambda: date(2024, 2, 1))
    assert names(org, ACCOUNTS + "CreatedDate = TODAY") == ["initech"]
    assert names(org, ACCOUNTS + "CreatedDate = YESTERDAY") == ["Globex"]
    assert names(org, ACCOUNTS + "CreatedDate < YESTERDAY") == ["Acme"]
    assert names(org, ACCOUNTS + "CreatedDate > TODAY") == ["100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate >= TODAY") == ["initech", "100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate <= YESTERDAY") == ["Acme", "Globex"]
    assert names(org, ACCOUNTS + "CreatedDate != TODAY") == ["Acme", "Globex", "100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate = LAST_N_DAYS:1") == ["Globex", "initech"]
    assert names(org, ACCOUNTS + "CreatedDate = LAST_N_DAYS:17") == ["Acme", "Globex", "initech"]
    assert names(org, ACCOUNTS + "CreatedDate = LAST_MONTH") == ["Acme", "Globex"]
    assert names(org, ACCOUNTS + "CreatedDate = NEXT_N_DAYS:38") == ["100% Pure_Co"]
    assert names(org, ACCOUNTS + "CreatedDate = THIS_YEAR") == ["Acme", "Globex", "initech", "100% Pure_Co"]
    monkeypatch.setattr(soql, "_today", lambda: date(2024, 5, 1))
    contacts = "SELECT LastName FROM Contact WHERE "
    assert names(org, contacts + "Birthdate < LAST_N_YEARS:34", "LastName") == ["Nobody"]
    assert names(org, contacts + "Birthdate = LAST_N_YEARS:34", "LastName") == ["Smith"]
    assert names(org, contacts + "Birthdate = LAST_N_YEARS:33", "LastName") == []
    assert names(org, contacts + "Birthdate = LAST_N_YEARS:39", "LastName") == ["Smith", "Nobody"]
    assert names(org, contacts + "Birthdate > LAST_YEAR", "LastName") == []
    assert names(org, contacts + "Birthdate != THIS_MONTH", "LastName") == ["Smith", "O'Brien", "Nobody"]


def test_ids_accept_15_and_18_characters(org: dict[str, Any]) -> None:
    acme_id = org["acme"]["Id"]
    assert names(org, f"{ACCOUNTS}Id = '{acme_id[:15]}'") == ["Acme"]
    assert names(org, f"{ACCOUNTS}Id = '{acme_id}'") == ["Acme"]
    assert names(org, f"{ACCOUNTS}ParentId IN ('{acme_id[:15]}', '{org['globex']['Id']}')") == ["Globex", "initech"]
    assert names(org, f"SELECT LastName FROM Contact WHERE AccountId != '{acme_id}'", "LastName") == [
        "O'Brien", "Nobody"]


def test_deleted_rows(org: dict[str, Any]) -> None:
    assert "Zombie Corp" not in names(org, "SELECT Name FROM Account")
    assert names(org, ACCOUNTS + "IsDeleted = true") == []
    assert names(org, ACCOUNTS + "IsDeleted = true", include_deleted=True) == ["Zombie Corp"]
    result = q(org, "SELECT Name, IsDeleted FROM Account WHERE Industry = 'Tech'", include_deleted=True)
    assert [(r["Name"], r["IsDeleted"]) for r in result.records] == [("Acme", False), ("Zombie Corp", True)]


def test_semi_join_and_anti_join(org: dict[str, Any]) -> None:
    assert names(org, "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)") == ["Acme", "Globex"]
    assert names(org, "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE "
                      "LastName LIKE 'o%')") == ["Globex"]
    # The deleted contact on initech does not count.
    assert names(org, "SELECT Name FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)") == [
        "initech", "100% Pure_Co"]
    assert names(org, "SELECT LastName FROM Contact WHERE AccountId IN (SELECT Id FROM Account WHERE "
                      "Owner.Name = 'Bob Stone')", "LastName") == ["O'Brien"]
    err = error_of(org, "SELECT Name FROM Account WHERE Name IN (SELECT LastName FROM Contact)")
    assert err.error_code == "INVALID_FIELD" and "Column:32\n" in err.message
    err = error_of(org, "SELECT Name FROM Account WHERE Id IN (SELECT LastName FROM Contact)")
    assert err.error_code == "INVALID_FIELD" and "Column:46\n" in err.message
    err = error_of(org, "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Nope)")
    assert err.error_code == "INVALID_TYPE" and "Column:61\nsObject type 'Nope'" in err.message


# ---------------------------------------------------------------------------------------------
# ORDER BY, LIMIT, OFFSET
# ---------------------------------------------------------------------------------------------


def test_order_by_text_is_case_insensitive(org: dict[str, Any]) -> None:
    assert names(org, "SELECT Name FROM Account ORDER BY Name") == ["100% Pure_Co", "Acme", "Globex", "initech"]
    assert names(org, "SELECT Name FROM Account ORDER BY Name DESC") == ["initech", "Globex", "Acme", "100% Pure_Co"]


def test_order_by_nulls(org: dict[str, Any]) -> None:
    base = "SELECT Name FROM Account ORDER BY AnnualRevenue"
    assert names(org, base) == ["initech", "100% Pure_Co", "Globex", "Acme"]
    assert names(org, base + " ASC NULLS LAST") == ["100% Pure_Co", "Globex", "Acme", "initech"]
    assert names(org, base + " DESC") == ["Acme", "Globex", "100% Pure_Co", "initech"]
    assert names(org, base + " DESC NULLS FIRST") == ["initech", "Acme", "Globex", "100% Pure_Co"]


def test_order_by_multiple_keys_and_relationships(org: dict[str, Any]) -> None:
    assert names(org, "SELECT Name FROM Account ORDER BY IsActive__c DESC, Name DESC") == [
        "initech", "Acme", "Globex", "100% Pure_Co"]
    assert names(org, "SELECT Name FROM Account ORDER BY Owner.Name DESC, CreatedDate DESC") == [
        "100% Pure_Co", "Globex", "initech", "Acme"]
    assert names(org, "SELECT Name FROM Account ORDER BY Parent.Name NULLS LAST, Name") == [
        "Globex", "initech", "100% Pure_Co", "Acme"]


def test_limit_and_offset(org: dict[str, Any]) -> None:
    base = "SELECT Name FROM Account ORDER BY Name"
    assert names(org, base + " LIMIT 2") == ["100% Pure_Co", "Acme"]
    assert names(org, base + " LIMIT 2 OFFSET 1") == ["Acme", "Globex"]
    assert names(org, base + " OFFSET 3") == ["initech"]
    assert q(org, base + " LIMIT 0") == QueryResult([], 0)
    assert q(org, base + " LIMIT 3").total_size == 3
    err = error_of(org, base + " OFFSET 2001")
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


# ---------------------------------------------------------------------------------------------
# Schema and type errors
# ---------------------------------------------------------------------------------------------


def test_unknown_object(org: dict[str, Any]) -> None:
    err = error_of(org, "SELECT Id FROM Foo")
    assert err.error_code == "INVALID_TYPE"
    assert err.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\nsObject type 'Foo' is not supported. "
        "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
        "Please reference your WSDL or the describe call for the appropriate names.")


def test_unknown_field(org: dict[str, Any]) -> None:
    err = error_of(org, "SELECT Id, Foo FROM Account")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity "
        "'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom "
        "field name. Please reference your WSDL or the describe call for the appropriate names.")


@pytest.mark.parametrize("text, column, fragment", [
    ("SELECT Id FROM Account WHERE Nope__c = 'x'", 30, "No such column 'Nope__c' on entity 'Account'"),
    ("SELECT Id FROM Account ORDER BY Nope", 33, "No such column 'Nope' on entity 'Account'"),
    ("SELECT Account.Foo FROM Contact", 8, "No such column 'Foo' on entity 'Account'"),
    ("SELECT Owner.Bogus FROM Contact", 8, "No such column 'Bogus' on entity 'User'"),
    ("SELECT Acct.Name FROM Contact", 8, "Didn't understand relationship 'Acct' in field path"),
    ("SELECT Account FROM Contact", 8, "No such column 'Account' on entity 'Contact'"),
    ("SELECT Name FROM Account WHERE Parent.Nope.Name = 'x'", 32, "Didn't understand relationship 'Nope'"),
])
def test_invalid_field_errors(org: dict[str, Any], text: str, column: int, fragment: str) -> None:
    err = error_of(org, text)
    assert err.error_code == "INVALID_FIELD"
    assert f"ERROR at Row:1:Column:{column}\n{fragment}" in err.message


@pytest.mark.parametrize("where, code, column, fragment", [
    ("AnnualRevenue = '5'", "INVALID_FIELD", 48,
     "value of filter criterion for field 'AnnualRevenue' must be of type double and should not be enclosed"),
    ("NumberOfEmployees > 'many'", "INVALID_FIELD", 52, "must be of type int"),
    ("Name = 5", "INVALID_FIELD", 39,
     "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
    ("Name IN ('a', 2)", "INVALID_FIELD", 46, "must be of type string"),
    ("CreatedDate = 2024-01-01", "INVALID_FIELD", 46, "must be of type dateTime"),
    ("CreatedDate > 'yesterday'", "INVALID_FIELD", 46, "must be of type dateTime"),
    ("IsActive__c = 'true'", "INVALID_FIELD", 46, "must be of type boolean"),
    ("Name = TODAY", "INVALID_FIELD", 39, "must be of type string"),
    ("Id = 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR", 37, "invalid ID field: not-an-id"),
    ("ParentId IN ('001')", "INVALID_QUERY_FILTER_OPERATOR", 45, "invalid ID field: 001"),
    ("AnnualRevenue LIKE '5%'", "INVALID_QUERY_FILTER_OPERATOR", 32, "invalid operator on currency field"),
    ("IsActive__c > false", "INVALID_QUERY_FILTER_OPERATOR", 32, "invalid operator on boolean field"),
    ("Name INCLUDES ('a')", "INVALID_QUERY_FILTER_OPERATOR", 32, "only valid on multipicklist"),
    ("Name LIKE 5", "INVALID_FIELD", 42, "must be of type string"),
    ("Description = 'x'", "INVALID_FIELD", 32, "field 'Description' can not be filtered in a query call"),
])
def test_type_mismatch_errors(org: dict[str, Any], where: str, code: str, column: int, fragment: str) -> None:
    err = error_of(org, "SELECT Name FROM Account WHERE " + where)
    assert err.error_code == code
    assert f"ERROR at Row:1:Column:{column}\n" in err.message
    assert fragment in err.message


def test_birthdate_rejects_datetime(org: dict[str, Any]) -> None:
    err = error_of(org, "SELECT Id FROM Contact WHERE Birthdate = 2024-01-01T00:00:00Z")
    assert err.error_code == "INVALID_FIELD"
    assert "Column:42\nvalue of filter criterion for field 'Birthdate' must be of type date" in err.message


def test_other_query_errors(org: dict[str, Any]) -> None:
    err = error_of(org, "SELECT Id, Name, id FROM Account")
    assert err.error_code == "MALFORMED_QUERY" and "Column:18\nduplicate field selected: id" in err.message
    err = error_of(org, "SELECT Id FROM Account ORDER BY Description")
    assert err.error_code == "INVALID_FIELD" and "can not be sorted" in err.message
    err = error_of(org, "SELECT COUNT(Id) FROM Account ORDER BY Name")
    assert err.error_code == "MALFORMED_QUERY" and "Ordered field must be grouped or aggregated: Name" in err.message


def test_errors_never_leak_python_exceptions(org: dict[str, Any]) -> None:
    for text in ["SELECT", "SELECT Id FROM Account WHERE (Name = 'x'", "SELECT Id FROM Account WHERE Name IN ()",
                 "SELECT Id FROM Account WHERE Id IN (SELECT COUNT() FROM Contact)", "SELECT COUNT() c FROM Account",
                 "SELECT Id FROM Account ORDER BY", "SELECT Id FROM Account WHERE Name = 'x' ORDER BY Name NULLS",
                 "SELECT Id FROM Account WHERE CreatedDate = 2024-13-01T00:00:00Z", "SELECT Id FROM Account;"]:
        with pytest.raises(SoqlError):
            run_query(text, org["src"])


def test_junk_stored_values_do_not_break_filters_or_sorting(org: dict[str, Any]) -> None:
    src = org["src"]
    src.add("Account", Name=42, AnnualRevenue="lots", CreatedDate="not a date", IsActive__c=None)
    result = q(org, "SELECT Name FROM Account WHERE AnnualRevenue > 0 OR Name > 'a' ORDER BY AnnualRevenue, Name, "
                    "CreatedDate")
    assert [r["Name"] for r in result.records] == ["initech", "100% Pure_Co", "Globex", "Acme"]
    assert names(org, ACCOUNTS + "Name = '42'") == [42]
    assert names(org, ACCOUNTS + "CreatedDate < 2030-01-01T00:00:00Z ORDER BY CreatedDate DESC LIMIT 1") == [
        "100% Pure_Co"]


# ---------------------------------------------------------------------------------------------
# Performance
# ---------------------------------------------------------------------------------------------


def test_five_thousand_rows_where_and_order_by_fetch_each_parent_once() -> None:
    src = MemorySource(load_schema(SCHEMA_DOC))
    owners = [src.add("User", Name=f"User {i}", Username=f"u{i}@example.com") for i in range(10)]
    accounts = [src.add("Account", Name=f"Account {i:05d}", AnnualRevenue=float(i % 997), OwnerId=owners[i % 10]["Id"],
                        Industry=("Tech", "Retail", None)[i % 3],
                        CreatedDate=f"2024-01-{1 + i % 28:02d}T10:00:00.000+0000") for i in range(5000)]
    text = ("SELECT Id, Name, Owner.Name FROM Account WHERE AnnualRevenue > 100 AND Industry != 'Retail' "
            "AND CreatedDate > 2024-01-05T00:00:00Z ORDER BY Industry DESC NULLS LAST, Name")
    run_query(text, src)  # warm the parse cache
    src.get_calls = 0
    result = run_query(text, src)      # its cost is the parents it fetches (below), not a time this test could judge
    expected = [a for a in accounts if a["AnnualRevenue"] > 100 and a["Industry"] != "Retail"
                and a["CreatedDate"] > "2024-01-05T00:00:00.000+0000"]
    expected.sort(key=lambda a: a["Name"])
    expected.sort(key=lambda a: a["Industry"] is None)
    assert [r["Id"] for r in result.records] == [a["Id"] for a in expected]
    assert result.total_size == len(expected)
    assert result.records[0]["Owner"]["Name"].startswith("User ")
    assert src.get_calls == 10  # parents are fetched once each per query


# ---------------------------------------------------------------------------------------------
# Child subqueries, GROUP BY and aggregates, FIELDS(), toLabel, FOR VIEW, column metadata
# ---------------------------------------------------------------------------------------------


def test_child_relationship_subquery(org: dict[str, Any]) -> None:
    records = q(org, "SELECT Name, (SELECT LastName, Account.Name FROM Contacts ORDER BY LastName) FROM Account "
                     "WHERE Name IN ('Acme', 'initech', '100% Pure_Co') ORDER BY Name").records
    by_name = {r["Name"]: r for r in records}
    assert by_name["100% Pure_Co"]["Contacts"] is None                   # no children: null, not []
    assert by_name["initech"]["Contacts"] is None                        # its only contact is deleted
    assert by_name["Acme"]["Contacts"] == {"totalSize": 1, "done": True, "records": [
        {"attributes": attrs("Contact", org["jane"]["Id"]), "LastName": "Smith",
         "Account": {"attributes": attrs("Account", org["acme"]["Id"]), "Name": "Acme"}}]}
    # self relationship (ParentId -> ChildAccounts), WHERE and LIMIT inside the subquery
    parent = q(org, "SELECT Name, (SELECT Name FROM ChildAccounts WHERE Name != 'x' LIMIT 5) FROM Account "
                    "WHERE Name = 'Acme'").records[0]
    assert [c["Name"] for c in parent["ChildAccounts"]["records"]] == ["Globex"]
    err = error_of(org, "SELECT Name, (SELECT Id FROM Nope) FROM Account")
    assert err.error_code == "INVALID_TYPE" and "Didn't understand relationship 'Nope'" in err.message


def test_group_by_with_aggregates(org: dict[str, Any]) -> None:
    result = q(org, "SELECT Industry, COUNT(Id) n, MIN(AnnualRevenue), MAX(Name), SUM(NumberOfEmployees), "
                    "AVG(AnnualRevenue), COUNT_DISTINCT(OwnerId) FROM Account GROUP BY Industry ORDER BY Industry")
    agg = {"type": "AggregateResult"}
    assert result.records == [
        {"attributes": agg, "Industry": None, "n": 1, "expr0": None, "expr1": "initech", "expr2": None,
         "expr3": None, "expr4": 1},
        {"attributes": agg, "Industry": "Energy", "n": 1, "expr0": 1000.0, "expr1": "100% Pure_Co", "expr2": 3,
         "expr3": 1000.0, "expr4": 1},
        {"attributes": agg, "Industry": "Retail", "n": 1, "expr0": 250000.0, "expr1": "Globex", "expr2": 20,
         "expr3": 250000.0, "expr4": 1},
        {"attributes": agg, "Industry": "Tech", "n": 1, "expr0": 5000000.0, "expr1": "Acme", "expr2": 100,
         "expr3": 5000000.0, "expr4": 1},
    ]
    assert result.total_size == 4
    owners = q(org, "SELECT Owner.Name, COUNT(Id) FROM Account GROUP BY Owner.Name ORDER BY Owner.Name DESC "
                    "LIMIT 1").records
    assert owners == [{"attributes": agg, "Name": "Bob Stone", "expr0": 2}]
    totals = q(org, "SELECT MAX(AnnualRevenue) top, SUM(AnnualRevenue) FROM Account WHERE Name = 'none'").records
    assert totals == [{"attributes": agg, "top": None, "expr0": None}]
    assert q(org, "SELECT Industry FROM Account WHERE Name = 'none' GROUP BY Industry").records == []
    err = error_of(org, "SELECT Industry, Name FROM Account GROUP BY Industry")
    assert "Field must be grouped or aggregated: Name" in err.message
    err = error_of(org, "SELECT SUM(Name) FROM Account")
    assert err.error_code == "MALFORMED_QUERY" and "does not support aggregate operator SUM" in err.message


def test_fields_function(org: dict[str, Any]) -> None:
    record = q(org, "SELECT FIELDS(ALL) FROM Account WHERE Name = 'Acme' LIMIT 1").records[0]
    schema_fields = set(org["src"].schema.object("Account").fields)
    assert set(record) - {"attributes"} == schema_fields
    custom = q(org, "SELECT FIELDS(CUSTOM) FROM Account WHERE Name = 'Acme' LIMIT 200").records[0]
    assert set(custom) - {"attributes"} == {f for f in schema_fields if f.endswith("__c")}
    standard = q(org, "SELECT FIELDS(STANDARD) FROM Account WHERE Name = 'Acme'").records[0]
    assert "Name" in standard and not any(f.endswith("__c") for f in standard)
    err = error_of(org, "SELECT FIELDS(ALL) FROM Account")
    assert err.error_code == "MALFORMED_QUERY" and "FIELDS function must have a LIMIT of at most 200" in err.message


def test_tolabel_and_for_view(org: dict[str, Any]) -> None:
    records = q(org, "SELECT Name, toLabel(Industry) FROM Account WHERE Name = 'Acme' FOR VIEW").records
    assert records[0]["Industry"] == "Tech"                               # labels are the values here
    assert names(org, "SELECT Name FROM Account WHERE Name = 'Acme' FOR REFERENCE") == ["Acme"]


def test_column_metadata(org: dict[str, Any]) -> None:
    meta = soql.query_columns("SELECT Id, Name, Owner.Name, (SELECT LastName FROM Contacts) FROM Account", org["src"])
    assert (meta["entityName"], meta["groupBy"], meta["idSelected"], meta["keyPrefix"]) == (
        "Account", False, True, "001")
    cols = meta["columnMetadata"]
    assert [c["columnName"] for c in cols] == ["Id", "Name", "Owner", "Contacts"]
    assert cols[0]["apexType"] == "Id" and cols[1]["textType"] is True and cols[1]["joinColumns"] == []
    assert cols[2]["joinColumns"][0]["columnName"] == "Name" and cols[2]["joinColumns"][0]["displayName"] == \
        "Owner.Name"
    assert cols[3]["aggregate"] is True and [c["columnName"] for c in cols[3]["joinColumns"]] == ["LastName"]
    grouped = soql.query_columns("SELECT Industry, COUNT(Id), MAX(AnnualRevenue) top FROM Account GROUP BY Industry",
                                 org["src"])
    assert grouped["groupBy"] is True and grouped["idSelected"] is False
    assert [(c["columnName"], c["displayName"], c["aggregate"]) for c in grouped["columnMetadata"]] == [
        ("Industry", "Industry", False), ("expr0", "COUNT(Id)", True), ("top", "MAX(AnnualRevenue)", True)]
