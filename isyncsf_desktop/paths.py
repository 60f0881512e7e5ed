"""Every path the application uses, from one place.

``ISYNCSF_HOME`` overrides them all (tests, portable installs): data, config, logs and cache then
live under that folder. Otherwise platformdirs gives the usual per-user folders of the platform.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "iSyncSF"
APP_AUTHOR = "iSyncSF"
HOME_ENV = "ISYNCSF_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    """Create ``path`` if needed; the app's own folders are private to the user (0700 on POSIX):
    the journal holds the prior values of every record the app updated."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(path)
    return path


def make_private(path: Path) -> None:
    """Owner-only access on POSIX (0700 for a folder, 0600 for a file); a no-op elsewhere."""
    if os.name != "posix":
        return
    wanted = 0o700 if path.is_dir() else 0o600
    try:
        if path.stat().st_mode & 0o777 != wanted:
            os.chmod(path, wanted)
    except OSError as exc:  # a folder the user pointed ISYNCSF_HOME at and doesn't own: say so, go on
        logging.getLogger(__name__).info("cannot make %s private: %s", path, exc)


def data_dir() -> Path:
    """Journal, templates, the embedded sandbox's org databases."""
    home = _home()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)))


def spool_dir() -> Path:
    """Where downloaded files wait to be uploaded (under the data folder, private to the user; each file is
    removed once it is sent)."""
    return _ensure(data_dir() / "spool")


def config_dir() -> Path:
    """Settings and the org registry (never secrets: those live in the keyring)."""
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)))


def log_dir() -> Path:
    """Where the rotating log files live: the platform's per-user log folder (``~/.local/state/iSyncSF/log``
    on Linux, ``~/Library/Logs/iSyncSF`` on macOS, ``%LOCALAPPDATA%\\iSyncSF\\iSyncSF\\Logs`` on Windows)."""
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


def settings_path() -> Path:
    """The QSettings file (window geometry, last template and orgs), INI format on every platform."""
    return config_dir() / "settings.ini"


LOCK_DIR_ENV = "ISYNCSF_LOCK_DIR"


def lock_dir() -> Path:
    """Where the per-target-org write locks live: one folder for the whole machine, so two data folders
    or two users of one computer never write to the same org at once. ``ISYNCSF_LOCK_DIR`` overrides it
    (tests). POSIX: ``/tmp/isyncsf-locks`` (sticky and writable by all, like /tmp itself; macOS's per-user
    temp folder would not be shared); Windows: ``%ProgramData%\\iSyncSF\\locks``."""
    value = os.environ.get(LOCK_DIR_ENV)
    if value:
        folder = Path(value).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    if os.name == "nt":
        folder = Path(os.environ.get("ProgramData") or tempfile.gettempdir()) / APP_NAME / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    folder = Path("/tmp") / "isyncsf-locks"
    try:
        folder.mkdir(mode=0o1777, exist_ok=False)
        os.chmod(folder, 0o1777)          # mkdir's mode is cut by the umask
    except FileExistsError:
        pass
    return folder


def instance_key() -> str:
    """A short name unique to this user and data folder: one running app per ``(user, data dir)``.

    Two users, or a test's ``ISYNCSF_HOME`` and the real one, never share it; the single-instance
    lock and local socket are named after it.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in the environment or the password db
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    digest = hashlib.sha256(f"{user}\0{data_dir().resolve()}".encode()).hexdigest()
    return f"isyncsf-desktop-{digest[:16]}"


def log_file() -> Path:
    """The current log file (older ones sit beside it as ``isyncsf.log.1``, ``.2``, …)."""
    return log_dir() / "isyncsf.log"


def is_frozen() -> bool:
    """True in the app built by PyInstaller (``build.spec``), False when installed with pip."""
    return bool(getattr(sys, "frozen", False))


def package_data(*parts: str) -> Path:
    """A data file shipped inside the package, e.g. ``package_data("data", "icons", "isyncsf.svg")``.

    The same call works pip-installed (site-packages or an editable checkout) and frozen (the
    files sit under the bundle's ``_internal/isyncsf_desktop/``, where ``build.spec`` puts them).
    """
    path = Path(str(resources.files("isyncsf_desktop").joinpath(*parts)))
    if not path.exists():  # pragma: no cover - a broken install or build; say which file is missing
        raise FileNotFoundError(f"{'/'.join(parts)} is missing from the installed app ({path})")
    return path


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
