"""Salesforce Files, Attachments and Notes in the sandbox org, through the real simple-salesforce client over
HTTPS: inserts as JSON and multipart, bytes back as sent, the ContentDocument and links a real org makes,
the errors it gives, the ContentDocumentLink filter rule, delete cascades, file storage, and the demo
org's seeded files."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib

import pytest
from helpers import client_for
from simple_salesforce.exceptions import SalesforceMalformedRequest

from isyncsf_desktop.sandbox.files import MB
from isyncsf_desktop.sandbox.seeds import LARGE_FILE_BYTES
from isyncsf_desktop.sandbox.soql import LINK_FILTER_MESSAGE


@pytest.fixture
def org(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    account = sf.Account.create({"Name": "Files Inc"})["id"]
    return server, sf, account


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _get(server, sf, url: str) -> bytes:
    """The bytes at a blob URL (``/services/data/v59.0/sobjects/ContentVersion/{id}/VersionData``)."""
    answer = sf.session.get(server.instance_url + url, headers={"Authorization": f"Bearer {server.token('qa')}"},
                            timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.content


def _error(excinfo) -> dict:
    return excinfo.value.content[0]


def _multipart(server, object_name: str, parts: list[tuple[str, str | None, str, bytes]]) -> tuple[int, object]:
    """POST a hand-built multipart/form-data insert: parts are (name, filename, content type, bytes)."""
    boundary = "boundary_string_h28"
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
                 .encode() + data + b"\r\n")
    body += f"--{boundary}--\r\n".encode()
    sf = client_for(server, "qa")
    answer = sf.session.post(f"{server.instance_url}/services/data/v59.0/sobjects/{object_name}", data=body,
                             headers={"Authorization": f"Bearer {server.token('qa')}",
                                      "Content-Type": f'multipart/form-data; boundary="{boundary}"'}, timeout=30)
    return answer.status_code, answer.json()


def _left_in_folder(server) -> list[str]:
    root = server.store("qa").files.root
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ---------------------------------------------------------------------------- ContentVersion
def test_json_insert_creates_the_document_and_serves_the_bytes(org):
    server, sf, account = org
    data = bytes(range(256)) * 40
    made = sf.ContentVersion.create({"PathOnClient": "reports/Q3 summary.PDF", "VersionData": _b64(data),
                                     "FirstPublishLocationId": account})
    version = sf.ContentVersion.get(made["id"])
    assert version["Title"] == "Q3 summary"             # from PathOnClient when not given
    assert (version["VersionNumber"], version["IsLatest"], version["ContentSize"]) == ("1", True, len(data))
    assert version["Checksum"] == hashlib.md5(data).hexdigest()
    assert (version["FileExtension"], version["FileType"]) == ("pdf", "PDF")
    assert version["VersionData"] == f"/services/data/v59.0/sobjects/ContentVersion/{made['id']}/VersionData"
    assert _get(server, sf, version["VersionData"]) == data
    document = sf.ContentDocument.get(version["ContentDocumentId"])
    assert (document["Title"], document["LatestPublishedVersionId"], document["ContentSize"]) == (
        "Q3 summary", made["id"], len(data))
    links = sf.query("SELECT LinkedEntityId, ShareType, Visibility FROM ContentDocumentLink "
                     f"WHERE ContentDocumentId = '{document['Id']}'")["records"]
    by_entity = {link["LinkedEntityId"]: (link["ShareType"], link["Visibility"]) for link in links}
    assert by_entity == {server.store("qa").api_user_id: ("I", "AllUsers"), account: ("V", "AllUsers")}
    # The URL follows the version a query asks in.
    rows = sf.session.get(f"{server.instance_url}/services/data/v52.0/query", params={
        "q": f"SELECT VersionData FROM ContentVersion WHERE Id = '{made['id']}'"},
        headers={"Authorization": f"Bearer {server.token('qa')}"}, timeout=30).json()["records"]
    assert rows[0]["VersionData"].startswith("/services/data/v52.0/sobjects/ContentVersion/")


def test_a_new_version_is_a_content_version_with_the_document_id(org):
    server, sf, account = org
    first = sf.ContentVersion.create({"PathOnClient": "plan.txt", "VersionData": _b64(b"draft"),
                                      "FirstPublishLocationId": account})["id"]
    document = sf.ContentVersion.get(first)["ContentDocumentId"]
    second = sf.ContentVersion.create({"PathOnClient": "plan.txt", "VersionData": _b64(b"final text"),
                                       "ContentDocumentId": document, "ReasonForChange": "signed"})["id"]
    versions = {r["Id"]: r for r in sf.query("SELECT Id, VersionNumber, IsLatest FROM ContentVersion "
                                             f"WHERE ContentDocumentId = '{document}'")["records"]}
    assert (versions[first]["VersionNumber"], versions[first]["IsLatest"]) == ("1", False)
    assert (versions[second]["VersionNumber"], versions[second]["IsLatest"]) == ("2", True)
    assert sf.ContentDocument.get(document)["LatestPublishedVersionId"] == second
    assert sf.query("SELECT COUNT() FROM ContentDocument")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentVersion.create({"PathOnClient": "x.txt", "VersionData": _b64(b"x"), "ContentDocumentId": document,
                                  "FirstPublishLocationId": account})
    assert _error(excinfo)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_required_fields_and_nothing_left_behind_on_failure(org):
    server, sf, account = org
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentVersion.create({"Title": "no bytes", "PathOnClient": "a.txt"})
    assert _error(excinfo)["errorCode"] == "REQUIRED_FIELD_MISSING" and _error(excinfo)["fields"] == ["VersionData"]
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentVersion.create({"Title": "no path", "VersionData": _b64(b"abc")})
    assert _error(excinfo)["fields"] == ["PathOnClient"]
    # allOrNone: the first file was kept, then the second failed and the request rolled back: no file stays.
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "ContentVersion"}, "PathOnClient": "a.txt", "VersionData": _b64(b"abc"),
         "FirstPublishLocationId": account},
        {"attributes": {"type": "ContentVersion"}, "PathOnClient": "b.txt"}]})
    assert [r["success"] for r in results] == [False, False]
    assert sf.query("SELECT COUNT() FROM ContentVersion")["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM ContentDocument")["totalSize"] == 0
    assert _left_in_folder(server) == []
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "ContentVersion"}, "PathOnClient": "a.txt", "VersionData": _b64(b"abc")},
        {"attributes": {"type": "ContentVersion"}, "PathOnClient": "b.txt"}]})
    assert [r["success"] for r in results] == [True, False]
    assert _left_in_folder(server) == [f"{results[0]['id']}.VersionData"]


def test_multipart_insert_streams_to_the_org_and_back(org):
    server, sf, account = org
    data = b"%PDF-1.4 " + bytes(range(256)) * 4096     # ~1 MB
    status, answer = _multipart(server, "ContentVersion", [
        ("entity_content", None, "application/json",
         json.dumps({"Title": "Brochure", "PathOnClient": "Brochure.pdf", "FirstPublishLocationId": account}).encode()),
        ("VersionData", "Brochure.pdf", "application/octet-stream", data)])
    assert status == 201 and answer["success"], answer
    version = sf.ContentVersion.get(answer["id"])
    assert (version["Title"], version["ContentSize"], version["Checksum"]) == (
        "Brochure", len(data), hashlib.md5(data).hexdigest())
    assert _get(server, sf, version["VersionData"]) == data
    assert _left_in_folder(server) == [f"{answer['id']}.VersionData"]    # no spooled part left over

    status, answer = _multipart(server, "ContentVersion", [
        ("VersionData", "a.bin", "application/octet-stream", b"abc")])
    assert status == 400 and answer[0]["errorCode"] == "INVALID_MULTIPART_REQUEST"
    status, answer = _multipart(server, "ContentVersion", [
        ("entity_content", None, "application/json", b'{"PathOnClient": "a.bin"}')])
    assert status == 400 and "VersionData" in answer[0]["message"]
    status, answer = _multipart(server, "ContentVersion", [      # refused after spooling: the spool is removed
        ("entity_content", None, "application/json", b'{"Title": "no path"}'),
        ("VersionData", "a.bin", "application/octet-stream", b"abc")])
    assert status == 400 and answer[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert len(_left_in_folder(server)) == 1


def test_describe_says_base64(org):
    server, sf, account = org
    fields = {f["name"]: f for f in sf.ContentVersion.describe()["fields"]}
    assert (fields["VersionData"]["type"], fields["VersionData"]["soapType"]) == ("base64", "xsd:base64Binary")
    assert fields["Checksum"]["createable"] is False and fields["PathOnClient"]["createable"] is True
    body = {f["name"]: f for f in sf.Attachment.describe()["fields"]}["Body"]
    assert body["type"] == "base64" and body["nillable"] is False


# ---------------------------------------------------------------------------- ContentDocumentLink
def test_links_their_settings_errors_and_the_filter_rule(org):
    server, sf, account = org
    other = sf.Account.create({"Name": "Second Co"})["id"]
    version = sf.ContentVersion.create({"PathOnClient": "x.png", "VersionData": _b64(b"\x89PNG"),
                                        "FirstPublishLocationId": account})["id"]
    document = sf.ContentVersion.get(version)["ContentDocumentId"]
    link = sf.ContentDocumentLink.create({"ContentDocumentId": document, "LinkedEntityId": other,
                                          "ShareType": "C", "Visibility": "InternalUsers"})["id"]
    assert {k: sf.ContentDocumentLink.get(link)[k] for k in ("ShareType", "Visibility")} == {
        "ShareType": "C", "Visibility": "InternalUsers"}
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentDocumentLink.create({"ContentDocumentId": document, "LinkedEntityId": other})
    assert _error(excinfo) == {"errorCode": "DUPLICATE_VALUE", "fields": ["LinkedEntityId"], "message":
                               f"Document with ID: {document} is already linked with the entity with ID: {other}"}
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentDocumentLink.create({"ContentDocumentId": document, "LinkedEntityId": other, "ShareType": "X"})
    assert _error(excinfo)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    for soql in ("SELECT Id FROM ContentDocumentLink",
                 "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V'",
                 f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId != '{account}'",
                 f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{account}' OR ShareType = 'V'"):
        with pytest.raises(SalesforceMalformedRequest) as excinfo:
            sf.query(soql)
        assert _error(excinfo) == {"message": LINK_FILTER_MESSAGE, "errorCode": "MALFORMED_QUERY"}, soql
    assert sf.query(f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId IN ('{account}', '{other}') "
                    "AND ShareType = 'C'")["totalSize"] == 1
    assert sf.query("SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId IN (SELECT Id FROM Account)"
                    )["totalSize"] == 2
    sf.ContentDocumentLink.update(link, {"Visibility": "AllUsers"})
    sf.ContentDocumentLink.delete(link)
    assert sf.query(f"SELECT COUNT() FROM ContentDocumentLink WHERE ContentDocumentId = '{document}'"
                    )["totalSize"] == 2


def test_deleting_a_document_takes_its_versions_and_links_and_frees_storage(org):
    server, sf, account = org
    data = b"z" * (3 * MB)
    version = sf.ContentVersion.create({"PathOnClient": "z.bin", "VersionData": _b64(data),
                                        "FirstPublishLocationId": account})["id"]
    document = sf.ContentVersion.get(version)["ContentDocumentId"]
    sf.ContentVersion.create({"PathOnClient": "z.bin", "VersionData": _b64(b"v2"), "ContentDocumentId": document})
    assert sf.limits()["FileStorageMB"] == {"Max": 1024, "Remaining": 1020}
    sf.ContentDocument.delete(document)
    assert sf.query("SELECT COUNT() FROM ContentVersion")["totalSize"] == 0
    assert sf.query(f"SELECT COUNT() FROM ContentDocumentLink WHERE ContentDocumentId = '{document}'"
                    )["totalSize"] == 0
    assert sf.query_all("SELECT Id FROM ContentVersion WHERE IsDeleted = true", include_deleted=True)["totalSize"] == 2
    assert sf.limits()["FileStorageMB"]["Remaining"] == 1024


def test_deleting_a_record_removes_its_links_and_attachments_not_the_document(org):
    server, sf, account = org
    version = sf.ContentVersion.create({"PathOnClient": "a.txt", "VersionData": _b64(b"a"),
                                        "FirstPublishLocationId": account})["id"]
    document = sf.ContentVersion.get(version)["ContentDocumentId"]
    sf.Attachment.create({"ParentId": account, "Name": "a.txt", "Body": _b64(b"legacy")})
    sf.Account.delete(account)
    assert sf.query(f"SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{document}'"
                    )["records"][0]["LinkedEntityId"] == server.store("qa").api_user_id
    assert sf.query("SELECT COUNT() FROM ContentDocument")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Attachment")["totalSize"] == 0


# ---------------------------------------------------------------------------- Attachment, Note
def test_attachment_body_round_trip_and_size_limit(org):
    server, sf, account = org
    data = bytes(range(200)) * 50
    made = sf.Attachment.create({"ParentId": account, "Name": "scan.png", "ContentType": "image/png",
                                 "Body": _b64(data)})["id"]
    row = sf.Attachment.get(made)
    assert (row["BodyLength"], row["ContentType"]) == (len(data), "image/png")
    assert row["Body"] == f"/services/data/v59.0/sobjects/Attachment/{made}/Body"
    assert _get(server, sf, row["Body"]) == data
    status, answer = _multipart(server, "Attachment", [
        ("entity_attachment", None, "application/json", json.dumps({"ParentId": account, "Name": "b.bin"}).encode()),
        ("Body", "b.bin", "application/octet-stream", b"\x00" * 5000)])
    assert status == 201 and sf.Attachment.get(answer["id"])["BodyLength"] == 5000
    server.faults("qa").update(max_file_mb=1)
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.Attachment.create({"ParentId": account, "Name": "big.bin", "Body": _b64(b"\x00" * (MB + 1))})
    assert _error(excinfo) == {"errorCode": "MAXIMUM_SIZE_OF_ATTACHMENT", "fields": ["BodyLength"],
                               "message": "attachment data exceeded maximum size"}
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentVersion.create({"PathOnClient": "big.bin", "VersionData": _b64(b"\x00" * (MB + 1))})
    assert _error(excinfo)["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"
    assert len(_left_in_folder(server)) == 2


def test_note(org):
    server, sf, account = org
    made = sf.Note.create({"ParentId": account, "Title": "Call", "Body": "Spoke to the CFO."})["id"]
    rows = sf.query(f"SELECT Title, Body, Parent.Name FROM Note WHERE ParentId = '{account}'")["records"]
    assert (rows[0]["Title"], rows[0]["Body"], rows[0]["Parent"]["Name"]) == ("Call", "Spoke to the CFO.", "Files Inc")
    sf.Note.delete(made)


# ---------------------------------------------------------------------------- file storage
def test_file_storage_is_charged_and_a_full_store_refuses(org):
    server, sf, account = org
    assert sf.limits()["FileStorageMB"] == {"Max": 1024, "Remaining": 1024}
    sf.ContentVersion.create({"PathOnClient": "a.bin", "VersionData": _b64(b"a" * (2 * MB))})
    sf.Attachment.create({"ParentId": account, "Name": "b.bin", "Body": _b64(b"b" * MB)})
    assert sf.limits()["FileStorageMB"] == {"Max": 1024, "Remaining": 1021}
    server.faults("qa").update(file_storage_mb=4)
    assert sf.limits()["FileStorageMB"] == {"Max": 4, "Remaining": 1}
    with pytest.raises(SalesforceMalformedRequest) as excinfo:
        sf.ContentVersion.create({"PathOnClient": "c.bin", "VersionData": _b64(b"c" * (2 * MB))})
    assert _error(excinfo) == {"errorCode": "STORAGE_LIMIT_EXCEEDED", "message": "storage limit exceeded",
                               "fields": []}
    status, answer = _multipart(server, "ContentVersion", [
        ("entity_content", None, "application/json", b'{"PathOnClient": "c.bin"}'),
        ("VersionData", "c.bin", "application/octet-stream", b"c" * (2 * MB))])
    assert status == 400 and answer[0]["errorCode"] == "STORAGE_LIMIT_EXCEEDED"
    assert len(_left_in_folder(server)) == 2
    sf.ContentVersion.create({"PathOnClient": "d.bin", "VersionData": _b64(b"d" * 1000)})   # what still fits


def test_files_survive_a_restart(sandbox_factory, tmp_path):
    from isyncsf_desktop.sandbox.server import SandboxServer

    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    version = sf.ContentVersion.create({"PathOnClient": "keep.txt", "VersionData": _b64(b"kept")})["id"]
    data_dir = server.data_dir
    server.stop()
    with SandboxServer(data_dir, {"qa": "empty"}) as again:
        sf = client_for(again, "qa")
        assert _get(again, sf, sf.ContentVersion.get(version)["VersionData"]) == b"kept"


# ---------------------------------------------------------------------------- the demo org's files
def _png_pixels(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature, chunk CRCs and that its pixels inflate."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert len(zlib.decompress(idat)) == size[1] * (size[0] * 3 + 1)
    return size


def _check_pdf(data: bytes) -> None:
    """A PDF whose xref table points at each of its objects and whose startxref points at the table."""
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    xref_at = int(data[data.rindex(b"startxref") + 9:].split()[0])
    assert data[xref_at:xref_at + 4] == b"xref"
    lines = data[xref_at:xref_at + 2000].split(b"\n")
    count = int(lines[1].split()[1])
    for number, line in enumerate(lines[3:2 + count], start=1):
        offset = int(line[:10])
        assert data[offset:offset + 10].startswith(f"{number} 0 obj".encode()), number


def test_demo_source_holds_files_on_accounts_and_cases(demo_server):
    sf = client_for(demo_server, "source")
    versions = sf.query_all("SELECT Id, Title, FileType, ContentSize, Checksum, VersionData, VersionNumber, "
                            "FirstPublishLocationId, ContentDocumentId FROM ContentVersion")["records"]
    assert len(versions) >= 30
    assert {v["FileType"] for v in versions} == {"PDF", "PNG"}
    parents = {v["FirstPublishLocationId"][:3] for v in versions if v["FirstPublishLocationId"]}
    assert parents == {"001", "500"}
    assert [v["VersionNumber"] for v in versions].count("2") == 1
    large = [v for v in versions if v["ContentSize"] > MB]
    assert [v["ContentSize"] for v in large] == [LARGE_FILE_BYTES]
    session = sf.session
    headers = {"Authorization": f"Bearer {demo_server.token('source')}"}
    for version in versions:
        with session.get(demo_server.instance_url + version["VersionData"], headers=headers, stream=True,
                         timeout=60) as answer:
            digest, data = hashlib.md5(), bytearray()
            for chunk in answer.iter_content(1 << 16):
                digest.update(chunk)
                if version["ContentSize"] <= MB:
                    data += chunk
        assert digest.hexdigest() == version["Checksum"], version["Title"]
        if version["FileType"] == "PNG":
            assert _png_pixels(bytes(data))[0] > 0
        elif version["ContentSize"] <= MB:
            _check_pdf(bytes(data))
    linked = sf.query(f"SELECT COUNT() FROM ContentDocumentLink WHERE LinkedEntityId = "
                      f"'{versions[0]['FirstPublishLocationId']}'")["totalSize"]
    assert linked >= 1
    attachments = sf.query("SELECT Id, Name, BodyLength, ParentId FROM Attachment")["records"]
    assert len(attachments) >= 5 and {a["ParentId"][:3] for a in attachments} == {"001", "500"}
    notes = sf.query("SELECT Id, Title, Body FROM Note")["records"]
    assert len(notes) >= 5 and all(n["Body"] for n in notes)
    assert sf.query("SELECT COUNT() FROM ContentVersion")["totalSize"] and \
        client_for(demo_server, "target").query("SELECT COUNT() FROM ContentVersion")["totalSize"] == 0


def test_the_large_demo_file_is_a_valid_pdf_end_to_end(demo_server):
    sf = client_for(demo_server, "source")
    version = sf.query(f"SELECT Id, VersionData FROM ContentVersion WHERE ContentSize = {LARGE_FILE_BYTES}"
                       )["records"][0]
    answer = sf.session.get(demo_server.instance_url + version["VersionData"], timeout=60,
                            headers={"Authorization": f"Bearer {demo_server.token('source')}"})
    assert len(answer.content) == LARGE_FILE_BYTES
    _check_pdf(answer.content)
