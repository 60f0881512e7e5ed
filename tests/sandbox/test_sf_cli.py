"""The Salesforce CLI (``sf``, npm package @salesforce/cli) against ``isyncsf sandbox serve``.

Marked ``external``: they need the ``sf`` executable on PATH (.ci/run installs it with npm into a
cache folder) and skip with the reason when it is missing. Each test runs the real CLI the way an
admin does; the org is then checked through the product's own client, not through the CLI.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from node_tools import SfCli, clean_env, sf_executable

pytestmark = pytest.mark.external


@dataclass(repr=False)
class Cli(SfCli):
    """A running sandbox server and the sf CLI, logged in to each of its orgs under the org's alias."""

    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:   # never the tokens in ``info``: pytest prints fixtures on failure
        return f"Cli(sf={self.sf!r}, instance_url={self.info['instance_url']!r})"

    def client(self, alias: str) -> Any:
        from isyncsf_desktop.salesforce.connection import connect

        return connect(self.info["instance_url"], self.info["orgs"][alias]["access_token"],
                       ca_file=self.info["ca_file"])

    def username(self, alias: str) -> str:
        sf = self.client(alias)
        user_id = sf.restful("")["identity"].rsplit("/", 1)[-1]
        return sf.User.get(user_id)["Username"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sf = sf_executable()
    work = tmp_path_factory.mktemp("sf-cli")
    (work / "home").mkdir()
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir",
                             str(work / "data"), "--org", "source=demo-source", "--org", "copy=empty"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        runner = Cli(sf, work, clean_env(work / "home", info["ca_file"]), info)
        for alias, org in info["orgs"].items():
            assert runner.login(alias, info["instance_url"], org["access_token"])["orgId"] == org["org_id"]
        yield runner
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------------------------------------- org
def test_org_login_access_token_keeps_each_org_apart(cli: Cli) -> None:
    listed = cli.json("org", "list")
    orgs = {o["alias"]: o for group in listed.values() if isinstance(group, list) for o in group if o.get("alias")}
    assert {alias: orgs[alias]["orgId"] for alias in ("source", "copy")} == {
        alias: cli.info["orgs"][alias]["org_id"] for alias in ("source", "copy")}
    assert orgs["source"]["username"] == cli.username("source")
    assert orgs["copy"]["username"] == cli.username("copy")
    assert orgs["source"]["username"] != orgs["copy"]["username"]      # two orgs, two auth files
    shown = cli.json("org", "display", "-o", "copy")
    assert shown["id"] == cli.info["orgs"]["copy"]["org_id"] and shown["connectedStatus"] == "Connected"


# ---------------------------------------------------------------------------------------------- query
QUERY = ("SELECT Id, Name, Owner.Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account "
         "WHERE ParentId = null ORDER BY Name LIMIT 3")


def test_data_query_json_human_and_csv(cli: Cli) -> None:
    expected = cli.client("source").query(QUERY)["records"]
    result = cli.json("data", "query", "-o", "source", "-q", QUERY)
    assert result["totalSize"] == 3
    assert [r["Name"] for r in result["records"]] == [r["Name"] for r in expected]
    assert [r["Contacts"] and [c["LastName"] for c in r["Contacts"]["records"]] for r in result["records"]] == [
        r["Contacts"] and [c["LastName"] for c in r["Contacts"]["records"]] for r in expected]

    human = cli.run("data", "query", "-o", "source", "-q", QUERY).stdout
    assert "Total number of records retrieved: 3." in human
    assert all(r["Name"].split(",")[0] in human for r in expected)

    flat = cli.run("data", "query", "-o", "source", "-q", "SELECT Id, Name, Owner.Name FROM Account "
                   "ORDER BY Name LIMIT 5", "--result-format", "csv").stdout
    rows = list(csv.DictReader(flat.splitlines()[flat.splitlines().index("Id,Name,Owner.Name"):]))
    assert len(rows) == 5 and all(r["Id"].startswith("001") and r["Owner.Name"] for r in rows)

    grouped = cli.json("data", "query", "-o", "source", "-q",
                       "SELECT Industry, COUNT(Id) n FROM Account GROUP BY Industry ORDER BY Industry")
    total = cli.client("source").query("SELECT COUNT() FROM Account")["totalSize"]
    assert sum(r["n"] for r in grouped["records"]) == total

    polymorphic = ("SELECT Subject, TYPEOF What WHEN Account THEN Name, Industry ELSE Id END FROM Task "
                   "ORDER BY Subject, Id LIMIT 20")
    typed = cli.json("data", "query", "-o", "source", "-q", polymorphic)["records"]
    def shape(what: dict[str, Any]) -> tuple[str, dict[str, Any]]:   # the URL's API version is the client's
        return what["attributes"]["type"], {k: v for k, v in what.items() if k != "attributes"}

    expected_what = [shape(r["What"]) for r in cli.client("source").query(polymorphic)["records"]]
    assert [shape(r["What"]) for r in typed] == expected_what
    assert "Total number of records retrieved: 20." in cli.run("data", "query", "-o", "source", "-q",
                                                               polymorphic).stdout
    assert len(typed) == 20 and all(set(r["What"]) in ({"attributes", "Name", "Industry"}, {"attributes", "Id"})
                                    for r in typed)


def test_bulk_query_with_data_export_bulk(cli: Cli) -> None:
    # `sf data query --bulk` is gone from the current CLI; it points to `sf data export bulk` (Bulk API 2.0).
    out = cli.work / "accounts.csv"
    cli.run("data", "export", "bulk", "-o", "source", "-q", "SELECT Id, Name, Parent.Name FROM Account",
            "--output-file", str(out), "--result-format", "csv", "--wait", "5")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    expected = {r["Id"]: r for r in cli.client("source").query_all("SELECT Id, Name, Parent.Name FROM Account")[
        "records"]}
    assert len(rows) == len(expected) > 200
    for row in rows:
        assert row["Name"] == expected[row["Id"]]["Name"]
        parent = expected[row["Id"]]["Parent"]
        assert row["Parent.Name"] == (parent["Name"] if parent else "")


# ---------------------------------------------------------------------------------------------- tree
def test_data_export_and_import_tree_with_children(cli: Cli) -> None:
    out = cli.work / "tree"
    out.mkdir()
    query = ("SELECT Name, Industry, Website, (SELECT LastName, FirstName, Email, Title FROM Contacts) "
             "FROM Account WHERE ParentId = null ORDER BY Name LIMIT 5")
    cli.run("data", "export", "tree", "-o", "source", "-q", query, "--output-dir", str(out), "--plan")
    plan = next(out.glob("*plan*.json"))
    result = cli.json("data", "import", "tree", "-o", "copy", "--plan", str(plan))
    source = cli.client("source").query(query)["records"]
    copied = {r["Name"]: r for r in cli.client("copy").query(query.replace(" LIMIT 5", ""))["records"]}
    assert len(result) == len(source) + sum(r["Contacts"]["totalSize"] for r in source if r["Contacts"])
    for account in source:
        twin = copied[account["Name"]]
        assert (twin["Industry"], twin["Website"]) == (account["Industry"], account["Website"])
        want = sorted((c["LastName"], c["FirstName"], c["Email"], c["Title"])
                      for c in (account["Contacts"] or {"records": []})["records"])
        got = sorted((c["LastName"], c["FirstName"], c["Email"], c["Title"])
                     for c in (twin["Contacts"] or {"records": []})["records"])
        assert got == want


# ---------------------------------------------------------------------------------------------- bulk DML
def test_data_import_upsert_and_delete_bulk(cli: Cli) -> None:
    sf = cli.client("copy")
    new = cli.work / "new.csv"
    new.write_text("Name,Industry,External_Id__c\nBulk One,Energy,BK-1\nBulk Two,Retail,BK-2\n", encoding="utf-8")
    imported = cli.json("data", "import", "bulk", "-o", "copy", "-s", "Account", "--file", str(new),
                        "--wait", "5")
    assert (imported["processedRecords"], imported["successfulRecords"], imported["failedRecords"]) == (2, 2, 0)

    up = cli.work / "upsert.csv"
    up.write_text("External_Id__c,Name,Industry\nBK-1,Bulk One,Technology\nBK-3,Bulk Three,Energy\n",
                  encoding="utf-8")
    cli.json("data", "upsert", "bulk", "-o", "copy", "-s", "Account", "--file", str(up),
             "--external-id", "External_Id__c", "--wait", "5")
    rows = {r["External_Id__c"]: r for r in sf.query(
        "SELECT External_Id__c, Name, Industry FROM Account WHERE External_Id__c LIKE 'BK-%'")["records"]}
    assert {k: (v["Name"], v["Industry"]) for k, v in rows.items()} == {
        "BK-1": ("Bulk One", "Technology"), "BK-2": ("Bulk Two", "Retail"), "BK-3": ("Bulk Three", "Energy")}

    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account WHERE External_Id__c IN ('BK-1', 'BK-2')")["records"]]
    gone = cli.work / "delete.csv"
    gone.write_text("Id\n" + "\n".join(ids) + "\n", encoding="utf-8")
    cli.json("data", "delete", "bulk", "-o", "copy", "-s", "Account", "--file", str(gone), "--wait", "5")
    left = sf.query("SELECT External_Id__c FROM Account WHERE External_Id__c LIKE 'BK-%'")["records"]
    assert [r["External_Id__c"] for r in left] == ["BK-3"]


# ---------------------------------------------------------------------------------------------- records
def test_record_create_get_update_delete(cli: Cli) -> None:
    created = cli.json("data", "create", "record", "-o", "copy", "-s", "Account",
                       "-v", "Name='Crud Co' Industry=Energy")
    record_id = created["id"]
    got = cli.json("data", "get", "record", "-o", "copy", "-s", "Account", "-i", record_id)
    assert (got["Name"], got["Industry"]) == ("Crud Co", "Energy")
    cli.json("data", "update", "record", "-o", "copy", "-s", "Account", "-i", record_id, "-v", "Name='Crud Two'")
    cli.json("data", "update", "record", "-o", "copy", "-s", "Account", "-w", "Name='Crud Two'",
             "-v", "Industry=Retail")
    by_where = cli.json("data", "get", "record", "-o", "copy", "-s", "Account", "-w", "Name='Crud Two'")
    assert (by_where["Id"], by_where["Industry"]) == (record_id, "Retail")
    cli.json("data", "delete", "record", "-o", "copy", "-s", "Account", "-i", record_id)
    assert cli.client("copy").query(f"SELECT COUNT() FROM Account WHERE Id = '{record_id}'")["totalSize"] == 0
    missing = cli.run("data", "get", "record", "-o", "copy", "-s", "Account", "-i", record_id, "--json", ok=False)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stdout


# ---------------------------------------------------------------------------------------------- schema
def test_sobject_describe_and_list(cli: Cli) -> None:
    described = cli.json("sobject", "describe", "-o", "source", "-s", "Account")
    expected = cli.client("source").Account.describe()
    assert described["name"] == "Account"
    assert [f["name"] for f in described["fields"]] == [f["name"] for f in expected["fields"]]
    assert {c["relationshipName"] for c in described["childRelationships"]} >= {"Contacts", "ChildAccounts"}
    listed = cli.json("sobject", "list", "-o", "source", "--sobject", "all")
    assert {"Account", "Contact", "Project__c"} <= set(listed)


# ---------------------------------------------------------------------------------------------- more
def test_data_search_limits_and_all_rows(cli: Cli) -> None:
    found = cli.json("data", "search", "-o", "source", "-q", "FIND {Jane} RETURNING User(Name, Username)")
    assert [r["Name"] for r in found["searchRecords"]] == ["Jane Doe"]

    limits = {limit["name"]: limit for limit in cli.json("org", "list", "limits", "-o", "source")}
    assert limits["DailyApiRequests"]["max"] > limits["DailyApiRequests"]["remaining"] > 0

    sf = cli.client("copy")
    gone = sf.Account.create({"Name": "Gone Co"})["id"]
    sf.Account.delete(gone)
    query = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Gone Co'"
    assert cli.json("data", "query", "-o", "copy", "-q", query)["totalSize"] == 0
    everything = cli.json("data", "query", "-o", "copy", "-q", query, "--all-rows")["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(gone, True)]
