"""Every path the application uses, from one place.

``ISYNCSF_HOME`` overrides them all (tests, portable installs): data, config, logs and cache then
live under that folder. Otherwise platformdirs gives the usual per-user folders of the platform.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "iSyncSF"
APP_AUTHOR = "iSyncSF"
HOME_ENV = "ISYNCSF_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Journal, templates, the embedded sandbox's org databases."""
    home = _home()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)))


def config_dir() -> Path:
    """Settings and the org registry (never secrets: those live in the keyring)."""
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)))


def log_dir() -> Path:
    home = _home()
    return _ensure(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)))


def cache_dir() -> Path:
    home = _home()
    return _ensure(home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)))


def sandbox_dir() -> Path:
    """Data dir of the embedded sandbox org server (its CA and one SQLite file per org)."""
    return _ensure(data_dir() / "sandbox")


def journal_path() -> Path:
    return data_dir() / "journal.sqlite3"


def templates_dir() -> Path:
    return _ensure(data_dir() / "templates")


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
