"""Bulk API 1.0 (/services/async/XX.X/job) of the sandbox org: simple-salesforce's ``sf.bulk`` (JSON) and
the XML + CSV conversation that jsforce, Data Loader and SFDMU have."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

import pytest
from helpers import client_for

NS = {"a": "http://www.force.com/2009/06/asyncapi/dataload"}


@pytest.fixture
def qa(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    return server, client_for(server, "qa")


def test_simple_salesforce_bulk_insert_query_upsert_update_delete(qa):
    _, sf = qa
    inserted = sf.bulk.Account.insert([{"Name": f"Bulk {i}", "External_Id__c": f"B1-{i}"} for i in range(5)]
                                      + [{"Industry": "Energy"}], batch_size=4)
    assert [r["success"] for r in inserted] == [True] * 5 + [False]
    assert inserted[5]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    rows = sf.bulk.Account.query("SELECT Id, Name, External_Id__c FROM Account WHERE External_Id__c LIKE 'B1-%'")
    assert sorted(r["Name"] for r in rows) == [f"Bulk {i}" for i in range(5)]
    assert all(r["attributes"]["type"] == "Account" for r in rows)
    upserted = sf.bulk.Account.upsert([{"External_Id__c": "B1-0", "Industry": "Retail"},
                                       {"External_Id__c": "B1-9", "Name": "Bulk 9"}], "External_Id__c")
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    first = next(r for r in rows if r["External_Id__c"] == "B1-1")
    sf.bulk.Account.update([{"Id": first["Id"], "Name": "Renamed"}])
    assert sf.Account.get(first["Id"])["Name"] == "Renamed"
    deleted = sf.bulk.Account.delete([{"Id": r["Id"]} for r in rows])
    assert all(r["success"] for r in deleted)
    left = sf.query("SELECT External_Id__c, Industry FROM Account WHERE External_Id__c LIKE 'B1-%'")["records"]
    assert [r["External_Id__c"] for r in left] == ["B1-9"]


def _xml_post(sf, url: str, body: str, content_type: str = "application/xml; charset=UTF-8"):
    return sf.session.post(url, data=body.encode(), headers={"X-SFDC-Session": sf.session_id,
                                                             "Content-Type": content_type}, timeout=30)


def _field(xml_text: str, name: str) -> str:
    found = ET.fromstring(xml_text).find(f"a:{name}", NS)
    assert found is not None, xml_text
    return found.text or ""


def test_xml_jobs_with_csv_batches_query_and_insert(qa):
    server, sf = qa
    base = f"{server.instance_url}/services/async/47.0"
    job = _xml_post(sf, f"{base}/job", '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com'
                    '/2009/06/asyncapi/dataload"><operation>insert</operation><object>Account</object>'
                    "<contentType>CSV</contentType></jobInfo>")
    assert job.status_code == 201 and _field(job.text, "state") == "Open"
    job_id = _field(job.text, "id")
    batch = _xml_post(sf, f"{base}/job/{job_id}/batch", 'Name,Industry\n"Comma, Inc",Energy\nPlain,\n,Retail\n',
                      "text/csv; charset=UTF-8")
    assert batch.status_code == 201
    batch_id = _field(batch.text, "id")
    info = sf.session.get(f"{base}/job/{job_id}/batch/{batch_id}", headers={"X-SFDC-Session": sf.session_id})
    assert _field(info.text, "state") == "Completed" and _field(info.text, "numberRecordsFailed") == "1"
    results = sf.session.get(f"{base}/job/{job_id}/batch/{batch_id}/result",
                             headers={"X-SFDC-Session": sf.session_id}).text
    rows = list(csv.DictReader(io.StringIO(results)))
    assert [(r["Success"], r["Created"]) for r in rows] == [("true", "true"), ("true", "true"), ("false", "false")]
    assert rows[2]["Error"].startswith("REQUIRED_FIELD_MISSING:")
    closed = _xml_post(sf, f"{base}/job/{job_id}", '<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                       "<state>Closed</state></jobInfo>")
    assert _field(closed.text, "state") == "Closed" and _field(closed.text, "numberRecordsProcessed") == "3"

    query_job = _xml_post(sf, f"{base}/job", '<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                          "<operation>query</operation><object>Account</object><contentType>CSV</contentType>"
                          "</jobInfo>")
    qid = _field(query_job.text, "id")
    qbatch = _xml_post(sf, f"{base}/job/{qid}/batch", "SELECT Id, Name, Owner.Name FROM Account ORDER BY Name",
                       "text/csv; charset=UTF-8")
    qbid = _field(qbatch.text, "id")
    listing = sf.session.get(f"{base}/job/{qid}/batch/{qbid}/result", headers={"X-SFDC-Session": sf.session_id})
    result_id = ET.fromstring(listing.text).find("a:result", NS).text
    data = sf.session.get(f"{base}/job/{qid}/batch/{qbid}/result/{result_id}",
                          headers={"X-SFDC-Session": sf.session_id}).text
    records = list(csv.DictReader(io.StringIO(data)))
    assert [r["Name"] for r in records] == ["Comma, Inc", "Plain"]
    assert list(records[0]) == ["Id", "Name", "Owner.Name"] and records[0]["Owner.Name"]


def test_bulk1_errors_use_its_own_envelope(qa):
    server, sf = qa
    base = f"{server.instance_url}/services/async/59.0"
    bad = sf.session.post(f"{base}/job", data=b"<jobInfo/>", headers={"X-SFDC-Session": "nope",
                                                                      "Content-Type": "application/xml"})
    assert bad.status_code == 400 and _field(bad.text, "exceptionCode") == "InvalidSessionId"
    unknown = sf.session.get(f"{base}/job/750000000000000AAA", headers={"X-SFDC-Session": sf.session_id,
                                                                        "Content-Type": "application/json"})
    assert unknown.status_code == 400 and unknown.json()["exceptionCode"] == "InvalidJob"
    job = sf.session.post(f"{base}/job", json={"operation": "query", "object": "Account", "contentType": "JSON"},
                          headers={"X-SFDC-Session": sf.session_id})
    job_id = job.json()["id"]
    batch = sf.session.post(f"{base}/job/{job_id}/batch", data=b"SELECT COUNT() FROM Account",
                            headers={"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"}).json()
    info = sf.session.get(f"{base}/job/{job_id}/batch/{batch['id']}", headers={"X-SFDC-Session": sf.session_id,
                                                                             "Content-Type": "application/json"})
    assert info.json()["state"] == "Failed" and re.search("Aggregate", info.json()["stateMessage"])
