"""jsforce (npm package, the Node.js Salesforce library) against a sandbox org on a real server: identity(),
query (autoFetch), describe, record CRUD, Bulk API 1.0 query and load, Bulk API 2.0 query, SOSL search,
``deleted()`` and the SOAP login with username, password and security token.

Marked ``external``: skips with the reason when node or jsforce is missing (.ci/run installs jsforce).
The script prints what jsforce returned as JSON; the test checks it against the product's own client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import client_for
from node_tools import QUIET, npm_package

pytestmark = pytest.mark.external

SCRIPT = r"""
const jsforce = require("jsforce");
const collect = stream => new Promise((resolve, reject) => {
  const rows = [];
  stream.on("record", r => rows.push(r)).on("error", reject).on("end", () => resolve(rows));
});
async function main() {
  const conn = new jsforce.Connection({
    instanceUrl: process.env.SANDBOX_URL, accessToken: process.env.SANDBOX_TOKEN, version: "59.0" });
  const out = {};
  out.identity = await conn.identity();
  out.query = await conn.query("SELECT Id, Name, Parent.Name FROM Account ORDER BY Name LIMIT 5");
  out.all = await conn.query("SELECT Id FROM Contact")
    .execute({ autoFetch: true, maxFetch: 100000, responseTarget: "Records" });
  const described = await conn.sobject("Account").describe();
  out.describe = { name: described.name, fields: described.fields.map(f => f.name) };
  const created = await conn.sobject("Account").create({ Name: "jsforce Co", Industry: "Energy" });
  await conn.sobject("Account").update({ Id: created.id, Industry: "Retail" });
  out.search = await conn.search("FIND {jsforce} RETURNING Account(Id, Name)");
  out.retrieved = await conn.sobject("Account").retrieve(created.id);
  out.destroyed = await conn.sobject("Account").destroy(created.id);
  out.bulkQuery = await collect(await conn.bulk.query("SELECT Id, Name, Owner.Name FROM Account"));
  out.bulkLoad = await conn.bulk.load("Contact", "insert",
    [{ LastName: "Bulk, One", Email: "b1@example.org", Phone: "1" },
     { LastName: "Bulk \"Two\"", Email: "b2@example.org", Phone: "2" },
     { FirstName: "No last name", Phone: "3" }, { LastName: "No phone" }]);   // the target's validation rule
  out.bulk2Query = await collect(await conn.bulk2.query("SELECT Id, Name FROM Account"));
  const now = new Date(), hour = 3600 * 1000;
  out.deleted = await conn.sobject("Account").deleted(new Date(now - hour), new Date(+now + hour));
  // SOAP login with username, password and security token, at the org's own URL.
  const soap = new jsforce.Connection({ loginUrl: process.env.SANDBOX_URL, version: "59.0" });
  out.login = await soap.login(process.env.SANDBOX_USERNAME, process.env.SANDBOX_PASSWORD);
  out.loginCount = (await soap.query("SELECT COUNT() FROM Account")).totalSize;
  console.log(JSON.stringify(out));
}
main().catch(error => { console.error(error && error.stack || error); process.exit(1); });
"""


def _node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not on PATH (.ci/run puts the Node.js 22 of the Salesforce CLI folder first)")
    return found


def test_jsforce_identity_query_crud_and_bulk(sandbox_factory: Any, tmp_path: Path) -> None:
    package = npm_package("ISYNCSF_JSFORCE_DIR", "jsforce")
    node = _node()
    demo_server = sandbox_factory({"target": "demo-target"})
    script = tmp_path / "smoke.js"
    script.write_text(SCRIPT, encoding="utf-8")
    login = demo_server.info()["orgs"]["target"]
    env = {**os.environ, **QUIET, "NODE_PATH": str(package.parent), "NODE_EXTRA_CA_CERTS": str(demo_server.ca_file),
           "SANDBOX_URL": demo_server.instance_url, "SANDBOX_TOKEN": demo_server.token("target"),
           "SANDBOX_USERNAME": login["username"], "SANDBOX_PASSWORD": login["password"] + login["security_token"]}
    done = subprocess.run([node, str(script)], capture_output=True, text=True, env=env, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    sf = client_for(demo_server, "target")

    user_id = sf.restful("")["identity"].rsplit("/", 1)[-1]
    user = sf.User.get(user_id)
    assert (out["identity"]["user_id"], out["identity"]["username"]) == (user_id, user["Username"])
    assert out["identity"]["organization_id"] == demo_server.store("target").org_id

    expected = sf.query("SELECT Id, Name, Parent.Name FROM Account ORDER BY Name LIMIT 5")["records"]
    assert out["query"]["records"] == expected
    loaded_ids = {r["id"] for r in out["bulkLoad"] if r["success"]}
    contacts = {r["Id"] for r in sf.query_all("SELECT Id FROM Contact")["records"]} - loaded_ids
    assert len(contacts) > 200 and sorted(r["Id"] for r in out["all"]) == sorted(contacts)
    assert out["describe"]["fields"] == [f["name"] for f in sf.Account.describe()["fields"]]
    assert (out["retrieved"]["Name"], out["retrieved"]["Industry"]) == ("jsforce Co", "Retail")
    assert out["destroyed"]["success"] is True
    assert not sf.query(f"SELECT Id FROM Account WHERE Id = '{out['retrieved']['Id']}'")["records"]

    accounts = {r["Id"]: r for r in sf.query_all("SELECT Id, Name, Owner.Name FROM Account")["records"]}
    assert {r["Id"]: (r["Name"], r["Owner.Name"]) for r in out["bulkQuery"]} == {
        i: (r["Name"], r["Owner"]["Name"]) for i, r in accounts.items()}
    assert {r["Id"] for r in out["bulk2Query"]} == set(accounts)

    loaded = out["bulkLoad"]
    assert [r["success"] for r in loaded] == [True, True, False, False]
    assert "LastName" in str(loaded[2]["errors"]) and "Phone is required" in str(loaded[3]["errors"])
    rows = {r["Email"]: r["LastName"] for r in sf.query(
        "SELECT Email, LastName FROM Contact WHERE Email IN ('b1@example.org', 'b2@example.org')")["records"]}
    assert rows == {"b1@example.org": "Bulk, One", "b2@example.org": 'Bulk "Two"'}

    assert [(r["Id"], r["Name"]) for r in out["search"]["searchRecords"]] == [(out["retrieved"]["Id"], "jsforce Co")]
    assert out["retrieved"]["Id"] in [d["id"] for d in out["deleted"]["deletedRecords"]]
    assert (out["login"]["id"], out["login"]["organizationId"]) == (user_id, demo_server.store("target").org_id)
    assert out["loginCount"] == sf.query("SELECT COUNT() FROM Account")["totalSize"]
