"""The client's file transfers against a sandbox org over HTTPS: the form each upload takes, downloads into a
path, a file object or a private spool file that is removed after, errors, retries, and memory that stays
flat however large the file."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from isyncsf_desktop import paths
from isyncsf_desktop.salesforce import files
from isyncsf_desktop.salesforce.client import ConnectionLost, OrgApiError, OrgClient

MB = 1024 * 1024


def make_client(server: Any, alias: str = "qa") -> OrgClient:
    return OrgClient.connect(server.instance_url, server.token(alias), ca_file=server.ca_file, alias=alias,
                             backoff=0.0)


@pytest.fixture
def qa_server(sandbox_factory: Any) -> Any:
    return sandbox_factory({"qa": "empty"})


@pytest.fixture
def qa(qa_server: Any) -> OrgClient:
    return make_client(qa_server)


@pytest.fixture
def account(qa: OrgClient) -> str:
    return qa.create([{"attributes": {"type": "Account"}, "Name": "Files Inc"}])[0]["id"]


def write_file(path: Path, size: int, seed: int = 1) -> str:
    """Write ``size`` deterministic bytes to ``path`` in 1 MB pieces; returns their MD5 hex."""
    block = bytes((seed * 31 + i * 7) % 256 for i in range(MB))
    digest = hashlib.md5()
    with open(path, "wb") as handle:
        for start in range(0, size, MB):
            piece = (start // MB).to_bytes(8, "big") + block[8:]
            piece = piece[:min(MB, size - start)]
            handle.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def content_types(client: OrgClient) -> list[str]:
    """The Content-Type of every request the client sends from now on (a response hook on its session)."""
    seen: list[str] = []
    client.sf.session.hooks["response"].append(
        lambda response, *args, **kwargs: seen.append(str(response.request.headers.get("Content-Type"))))
    return seen


# ---------------------------------------------------------------------------- upload
def test_small_files_go_as_json_and_large_ones_as_multipart(qa: OrgClient, account: str, tmp_path: Path) -> None:
    small, large = tmp_path / "small.pdf", tmp_path / "large.bin"
    small_md5 = write_file(small, 1000)
    large_md5 = write_file(large, files.SMALL_UPLOAD_BYTES + 1)
    seen = content_types(qa)
    progress: list[int] = []
    first = qa.upload_content_version({"PathOnClient": "small.pdf", "FirstPublishLocationId": account}, small,
                                      on_chunk=progress.append)
    second = qa.upload_content_version({"PathOnClient": "large.bin", "Title": "Large",
                                        "FirstPublishLocationId": account}, large, on_chunk=progress.append)
    assert seen[0] == "application/json"
    assert seen[1].startswith("multipart/form-data; boundary=")
    assert sum(progress) == 1000 + files.SMALL_UPLOAD_BYTES + 1
    rows = {r["Id"]: r for r in qa.query("SELECT Id, Title, Checksum, ContentSize, ContentDocumentId "
                                         "FROM ContentVersion")}
    assert (rows[first]["Title"], rows[first]["Checksum"], rows[first]["ContentSize"]) == ("small", small_md5, 1000)
    assert (rows[second]["Title"], rows[second]["Checksum"]) == ("Large", large_md5)
    assert qa.query("SELECT LinkedEntityId FROM ContentDocumentLink WHERE LinkedEntityId = "
                    f"'{account}'") == [{"LinkedEntityId": account}] * 2


def test_the_threshold_is_the_callers(qa: OrgClient, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    write_file(source, 5000)
    seen = content_types(qa)
    qa.upload_blob("ContentVersion", {"PathOnClient": "a.txt"}, source, small=100)
    qa.upload_blob("ContentVersion", {"PathOnClient": "a.txt"}, source, small=5000)
    assert [kind.split(";")[0] for kind in seen] == ["multipart/form-data", "application/json"]


def test_attachment_both_forms_and_download(qa: OrgClient, account: str, tmp_path: Path) -> None:
    source, note = tmp_path / "scan.png", tmp_path / "note.txt"
    md5 = write_file(source, 3 * MB)
    write_file(note, 10)
    seen = content_types(qa)
    made = qa.create_attachment({"ParentId": account, "Name": "scan.png", "ContentType": "image/png"}, source)
    small = qa.create_attachment({"ParentId": account, "Name": "note.txt"}, note)
    assert seen[0].startswith("multipart/form-data") and seen[1] == "application/json"
    got = qa.download_blob("Attachment", made, tmp_path / "back.png")
    assert (got.path, got.size, got.md5) == (tmp_path / "back.png", 3 * MB, md5)
    assert (tmp_path / "back.png").read_bytes() == source.read_bytes()
    assert qa.query(f"SELECT BodyLength FROM Attachment WHERE Id = '{small}'") == [{"BodyLength": 10}]


def test_a_new_version_of_a_document(qa: OrgClient, account: str, tmp_path: Path) -> None:
    source = tmp_path / "plan.txt"
    write_file(source, 100)
    first = qa.upload_content_version({"PathOnClient": "plan.txt", "FirstPublishLocationId": account}, source)
    document = qa.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = '{first}'")[0]["ContentDocumentId"]
    write_file(source, 200, seed=2)
    second = qa.upload_content_version({"PathOnClient": "plan.txt", "ContentDocumentId": document}, source)
    assert qa.query(f"SELECT Id, VersionNumber FROM ContentVersion WHERE ContentDocumentId = '{document}' "
                    "ORDER BY VersionNumber") == [{"Id": first, "VersionNumber": "1"},
                                                  {"Id": second, "VersionNumber": "2"}]


def test_refusals_are_org_api_errors_with_the_orgs_code(qa_server: Any, qa: OrgClient, account: str,
                                                      tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    write_file(source, 3 * MB)
    qa_server.faults("qa").update(file_storage_mb=2)
    for sender in (lambda: qa.upload_content_version({"PathOnClient": "big.bin"}, source),
                   lambda: qa.create_attachment({"ParentId": account, "Name": "big.bin"}, source)):
        with pytest.raises(OrgApiError) as caught:
            sender()
        assert (caught.value.error_code, caught.value.status, caught.value.message) == (
            "STORAGE_LIMIT_EXCEEDED", 400, "storage limit exceeded")
    qa_server.faults("qa").update(file_storage_mb=None, max_file_mb=1)
    with pytest.raises(OrgApiError) as caught:
        qa.create_attachment({"ParentId": account, "Name": "big.bin"}, source)
    assert caught.value.error_code == "MAXIMUM_SIZE_OF_ATTACHMENT" and caught.value.fields == ["BodyLength"]
    with pytest.raises(OrgApiError) as caught:
        qa.download_blob("ContentVersion", "068000000000000AAA", tmp_path / "x")
    assert caught.value.error_code == "NOT_FOUND"


def test_an_unreadable_file_is_refused_before_any_request(qa: OrgClient, tmp_path: Path) -> None:
    before = qa.api_calls
    with pytest.raises(FileNotFoundError):
        qa.upload_content_version({"PathOnClient": "gone.pdf"}, tmp_path / "gone.pdf")
    with pytest.raises(ValueError, match="Account carries no file"):
        qa.upload_blob("Account", {"Name": "x"}, tmp_path)
    assert qa.api_calls == before


def test_a_lost_answer_to_an_upload_is_connection_lost_not_resent(qa_server: Any, qa: OrgClient,
                                                                 tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    write_file(source, files.SMALL_UPLOAD_BYTES * 2)
    qa_server.faults("qa").update(drop_after_commit=1)
    with pytest.raises(ConnectionLost) as caught:
        qa.upload_content_version({"PathOnClient": "big.bin", "Title": "Lost answer"}, source)
    assert caught.value.records == [{"PathOnClient": "big.bin", "Title": "Lost answer"}]
    assert qa.query("SELECT Title FROM ContentVersion") == [{"Title": "Lost answer"}]   # committed once


# ---------------------------------------------------------------------------- download
def test_download_into_a_file_object_and_a_retry_starts_over(qa_server: Any, qa: OrgClient, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    md5 = write_file(source, 300_000)
    made = qa.upload_content_version({"PathOnClient": "a.bin"}, source)
    buffer = io.BytesIO(b"header:")
    buffer.seek(7)
    qa_server.faults("qa").update(http_503=1)
    calls = qa.api_calls
    got = qa.download_blob("ContentVersion", made, buffer)
    assert qa.api_calls == calls + 2
    assert (got.path, got.size, got.md5) == (None, 300_000, md5)
    assert buffer.getvalue() == b"header:" + source.read_bytes()


def test_spooled_download_is_private_under_the_data_folder_and_removed(qa: OrgClient, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    md5 = write_file(source, 200_000)
    made = qa.upload_content_version({"PathOnClient": "a.bin"}, source)
    progress: list[int] = []
    with qa.spooled_blob("ContentVersion", made, on_chunk=progress.append) as got:
        assert got.path is not None and got.path.parent == paths.spool_dir()
        assert got.path.read_bytes() == source.read_bytes() and got.md5 == md5 and sum(progress) == 200_000
        if os.name == "posix":
            assert stat.S_IMODE(got.path.stat().st_mode) == 0o600
            assert stat.S_IMODE(paths.spool_dir().stat().st_mode) == 0o700
    assert not got.path.exists()
    with pytest.raises(RuntimeError):
        with qa.spooled_blob("ContentVersion", made) as again:
            raise RuntimeError("the upload failed")
    assert again.path is not None and not again.path.exists()
    assert list(paths.spool_dir().iterdir()) == []


def test_the_demo_file_reads_back_as_its_checksum(demo_server: Any, tmp_path: Path) -> None:
    source = make_client(demo_server, "source")
    version = source.query("SELECT Id, Checksum, ContentSize FROM ContentVersion ORDER BY ContentSize DESC LIMIT 1")[0]
    with source.spooled_blob("ContentVersion", version["Id"]) as got:
        assert (got.size, got.md5) == (version["ContentSize"], version["Checksum"])


# ---------------------------------------------------------------------------- memory
@pytest.mark.parametrize("size_mb", [40, pytest.param(200, marks=pytest.mark.slow)])
def test_a_large_file_is_never_held_in_memory(qa: OrgClient, account: str, tmp_path: Path, size_mb: int) -> None:
    """Upload and download a large file through the client; the Python heap of this process (the client, and
    the in-process sandbox serving it) stays far below the file's size. Memory, not time: load-independent."""
    source = tmp_path / "large.bin"
    md5 = write_file(source, size_mb * MB)
    tracemalloc.start()
    try:
        made = qa.upload_content_version({"PathOnClient": "large.bin", "FirstPublishLocationId": account}, source)
        upload_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with qa.spooled_blob("ContentVersion", made) as got:
            assert (got.size, got.md5) == (size_mb * MB, md5)
        download_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"{size_mb} MB file: peak Python heap {upload_peak / MB:.1f} MB uploading, "
          f"{download_peak / MB:.1f} MB downloading")
    assert upload_peak < 16 * MB and download_peak < 16 * MB
