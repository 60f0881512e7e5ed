"""Error export: file names, the frame, and the CSV as a spreadsheet would read it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from isyncsf_desktop.engine.export import (
    ERROR_COLUMNS,
    error_filename,
    errors_frame,
    export_errors_csv,
    neutralise_formula,
)
from isyncsf_desktop.engine.journal import ErrorInfo, Journal, OrgRef, Outcome

SOURCE = OrgRef("dev-source", "00DSOURCE000001", "https://source.example.com")
TARGET = OrgRef("uat-target", "00DTARGET000001", "https://target.example.com")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def job(journal: Journal) -> tuple[int, int]:
    """A job with errors on two objects (one resolved later), some of them hostile to spreadsheets."""
    job_id = journal.create_job({"name": "Demo"}, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, run_id, [
        Outcome("Account", "001S1", "001T1", "inserted"),
        Outcome("Account", "001S2", None, "failed",
                ErrorInfo("FIELD_CUSTOM_VALIDATION_EXCEPTION", '=HYPERLINK("x")', ["Name", "Rating"])),
        Outcome("Account", "001S3", None, "failed", ErrorInfo("STRING_TOO_LONG", "+1", ["Phone"])),
        Outcome("Contact", "003S1", None, "failed",
                ErrorInfo("REQUIRED_FIELD_MISSING", "@SUM(A1:A2)", ["LastName"])),
        Outcome("Contact", "003S2", "003T2", "failed",
                ErrorInfo("INVALID_CROSS_REFERENCE_KEY", "Société « Zürich » 日本語 — ok", [])),
        Outcome("Contact", "003S3", None, "failed", ErrorInfo("DUPLICATE_VALUE", "-2+3", ["Email"])),
        Outcome("Contact", "003S4", None, "failed", ErrorInfo("X", "\tTabbed", [])),
        Outcome("Contact", "003S5", None, "failed", ErrorInfo("UNKNOWN", "will be fixed", [])),
    ])
    retry = journal.start_run(job_id, "retry")
    journal.record_outcomes(job_id, retry, [Outcome("Contact", "003S5", "003T5", "inserted", phase="retry")])
    return job_id, run_id


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


# ---------------------------------------------------------------- file names


def test_error_filename_format() -> None:
    when = datetime(2026, 11, 27, 14, 25, 1)
    assert error_filename("Account", when) == "errors_Account_20261127_142501.csv"
    assert error_filename("ns__Invoice_Line__c", when) == "errors_ns__Invoice_Line__c_20261127_142501.csv"
    assert error_filename(None, when) == "errors_All_20261127_142501.csv"


def test_error_filename_sanitises_object_names() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5)
    name = error_filename('../evil:name*?"<>|\\x', when)
    assert name.startswith("errors_") and name.endswith("_20260102_030405.csv")
    assert re.fullmatch(r"errors_[A-Za-z0-9_.-]+_\d{8}_\d{6}\.csv", name)
    assert "/" not in name and ".." not in name
    assert error_filename("...", when) == "errors_Unnamed_20260102_030405.csv"
    assert len(error_filename("A" * 500, when)) < 120


def test_error_filename_defaults_to_now() -> None:
    name = error_filename("Account")
    assert re.fullmatch(r"errors_Account_\d{8}_\d{6}\.csv", name)
    stamp = datetime.strptime(name[len("errors_Account_"):-4], "%Y%m%d_%H%M%S")
    assert abs((datetime.now() - stamp).total_seconds()) < 60


# ---------------------------------------------------------------- frame


def test_errors_frame_rows_and_columns(journal: Journal, job: tuple[int, int]) -> None:
    job_id, run_id = job
    frame = errors_frame(journal, job_id)
    assert list(frame.columns) == ERROR_COLUMNS
    assert len(frame) == 6  # 003S5 was fixed by the retry
    first = frame.iloc[0]
    assert first["Object"] == "Account" and first["Source Id"] == "001S2" and first["Target Id"] == ""
    assert first["Status Code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert first["Message"] == '=HYPERLINK("x")'  # raw in the frame; neutralised only in files
    assert first["Fields"] == "Name, Rating"
    assert first["Phase"] == "sync" and first["Time"].endswith("Z")
    assert first["Job"] == f"#{job_id}" and first["Run"] == f"Sync (run {run_id})"   # as History names them
    assert list(errors_frame(journal, job_id, "Account")["Source Id"]) == ["001S2", "001S3"]
    everything = errors_frame(journal, job_id, open_only=False)
    assert len(everything) == 7 and "003S5" in set(everything["Source Id"])


def test_errors_frame_of_chosen_errors_and_of_a_retry(journal: Journal, job: tuple[int, int]) -> None:
    job_id, _ = job
    retry = journal.start_run(job_id, "retry")
    journal.record_outcomes(job_id, retry, [Outcome("Account", "001S9", None, "failed", ErrorInfo("X", "again", []),
                                                    phase="retry")])
    errors = journal.errors(job_id)
    chosen = [errors[1].id, errors[-1].id]
    frame = errors_frame(journal, job_id, error_ids=chosen)
    assert list(frame["Source Id"]) == [errors[1].source_id, "001S9"]
    assert list(frame["Run"]) == [f"Sync (run {errors[1].run_id})", f"Retry (run {retry})"]
    assert errors_frame(journal, job_id, error_ids=[]).empty


def test_errors_frame_empty_has_columns(journal: Journal) -> None:
    job_id = journal.create_job({"name": "Clean"}, SOURCE, TARGET)
    frame = errors_frame(journal, job_id)
    assert frame.empty and list(frame.columns) == ERROR_COLUMNS


def test_neutralise_formula() -> None:
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx",
                  " =1", "  +1", "\n=HYPERLINK(\"x\")", " \n @A1",             # blanks before the prefix
                  "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", " \uff1dx"):  # full-width ＝＋－＠
        assert neutralise_formula(value) == "'" + value
    for value in ("Acme", "", "1-2", "a =1", "   ", "x\uff1d", 42, None):
        assert neutralise_formula(value) == value


# ---------------------------------------------------------------- CSV


def test_export_csv_contents(journal: Journal, job: tuple[int, int], tmp_path: Path) -> None:
    job_id, run_id = job
    path = tmp_path / error_filename(None, datetime(2026, 11, 27, 14, 25, 1))
    assert export_errors_csv(journal, job_id, path) == 6
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    frame = _read(path)
    assert list(frame.columns) == ERROR_COLUMNS  # no index column
    messages = list(frame["Message"])
    assert messages == ["'=HYPERLINK(\"x\")", "'+1", "'@SUM(A1:A2)", "Société « Zürich » 日本語 — ok", "'-2+3",
                        "'\tTabbed"]
    assert list(frame["Object"]) == ["Account", "Account", "Contact", "Contact", "Contact", "Contact"]
    assert list(frame["Fields"])[:3] == ["Name, Rating", "Phone", "LastName"]
    assert set(frame["Run"]) == {f"Sync (run {run_id})"} and set(frame["Job"]) == {f"#{job_id}"}
    assert frame.iloc[3]["Target Id"] == "003T2"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in frame.to_numpy().ravel())
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_export_csv_object_filter_and_all_errors(journal: Journal, job: tuple[int, int], tmp_path: Path) -> None:
    job_id, _ = job
    path = tmp_path / "contacts.csv"
    assert export_errors_csv(journal, job_id, path, "Contact") == 4
    assert set(_read(path)["Object"]) == {"Contact"}
    assert export_errors_csv(journal, job_id, path, "Contact", open_only=False) == 5  # overwrites
    assert len(_read(path)) == 5
    assert export_errors_csv(journal, job_id, path, "Opportunity") == 0


def test_export_empty_is_header_only(journal: Journal, tmp_path: Path) -> None:
    job_id = journal.create_job({"name": "Clean"}, SOURCE, TARGET)
    path = tmp_path / "empty.csv"
    assert export_errors_csv(journal, job_id, path) == 0
    frame = _read(path)
    assert list(frame.columns) == ERROR_COLUMNS and len(frame) == 0
    assert path.read_text(encoding="utf-8-sig").strip() == ",".join(ERROR_COLUMNS)


def test_export_to_missing_folder_is_a_clear_error(journal: Journal, job: tuple[int, int], tmp_path: Path) -> None:
    job_id, _ = job
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_errors_csv(journal, job_id, tmp_path / "nowhere" / "errors.csv")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export_errors_csv(journal, job_id, tmp_path / "afile" / "errors.csv")
    with pytest.raises(IsADirectoryError):
        export_errors_csv(journal, job_id, tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_export_to_read_only_folder_is_a_clear_error(journal: Journal, job: tuple[int, int], tmp_path: Path) -> None:
    job_id, _ = job
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            export_errors_csv(journal, job_id, folder / "errors.csv")
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_export_failure_leaves_existing_file_untouched(journal: Journal, job: tuple[int, int], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, _ = job
    path = tmp_path / "errors.csv"
    path.write_text("previous report", encoding="utf-8")

    def broken_to_csv(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(OSError, match="disk full"):
        export_errors_csv(journal, job_id, path)
    assert path.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv", "journal.sqlite3", "journal.sqlite3-shm",
                                                          "journal.sqlite3-wal"]


def test_export_to_unwritable_folder_message(journal: Journal, job: tuple[int, int], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs as root too: the folder check reports a folder the process may not write to."""
    job_id, _ = job
    monkeypatch.setattr("isyncsf_desktop.engine.export.os.access", lambda *args, **kwargs: False)
    with pytest.raises(PermissionError, match=r"the folder .* is not writable"):
        export_errors_csv(journal, job_id, tmp_path / "errors.csv")
    assert not (tmp_path / "errors.csv").exists()


def test_a_dde_pipe_is_neutralised_too() -> None:
    for value in ("|calc", "｜calc", " |cmd /c calc"):
        assert neutralise_formula(value) == "'" + value


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize(("umask", "mode"), [(0o077, 0o600), (0o027, 0o640), (0o022, 0o644)])
def test_the_export_gets_the_mode_the_umask_gives(journal: Journal, job: tuple[int, int], tmp_path: Path,
                                                 umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        export_errors_csv(journal, job[0], tmp_path / "errors.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "errors.csv").stat().st_mode & 0o777 == mode
