"""The app's log: a rotating file in the log folder (the platform's, or ISYNCSF_HOME/logs), private to the user."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs
import pytest

from isyncsf_desktop import paths
from isyncsf_desktop.gui import app


@pytest.fixture
def clean_root_logger():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_the_log_rotates_in_the_log_folder(clean_root_logger, monkeypatch):
    monkeypatch.setattr(app, "LOG_BYTES", 2_000)
    app.setup_logging()
    app.setup_logging()   # a second call adds nothing
    files = [h for h in clean_root_logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert len(files) == 1 and Path(files[0].baseFilename) == paths.log_file()
    assert files[0].backupCount == app.LOG_BACKUPS
    for n in range(200):
        logging.getLogger("session").info("line %d of a long session", n)
    logs = sorted(p.name for p in paths.log_dir().iterdir() if p.name.startswith("isyncsf.log"))
    assert logs == ["isyncsf.log", *(f"isyncsf.log.{i}" for i in range(1, app.LOG_BACKUPS + 1))]
    assert "line 199 of a long session" in paths.log_file().read_text(encoding="utf-8")
    if os.name == "posix":
        assert paths.log_file().stat().st_mode & 0o077 == 0 and paths.log_dir().stat().st_mode & 0o077 == 0


def test_without_isyncsf_home_the_log_is_in_the_platform_log_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.HOME_ENV)
    asked = []

    def user_log_dir(appname: str, appauthor: str) -> str:
        asked.append((appname, appauthor))
        return str(tmp_path / "platform-logs")

    monkeypatch.setattr(platformdirs, "user_log_dir", user_log_dir)
    assert paths.log_dir() == tmp_path / "platform-logs" and paths.log_dir().is_dir()
    assert asked[0] == ("iSyncSF", "iSyncSF")
