"""Open a web page or a folder in the user's own program (browser, file manager).

From an installed package this is ``QDesktopServices.openUrl``. The built app on Linux and macOS starts
the desktop's opener itself (``xdg-open``, ``open``) with the environment the user started the app with
(:func:`isyncsf_desktop.bundle.user_environment`), because Qt would hand the browser the bundle's library
search path and Qt plugin path, and the browser would load the bundle's libraries instead of its own.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from .. import bundle

logger = logging.getLogger(__name__)


def opener() -> str | None:
    """The desktop's program that opens a URL or a folder, for the built app on Linux or macOS; else None."""
    if not bundle.frozen() or sys.platform == "win32":
        return None
    return shutil.which("open" if sys.platform == "darwin" else "xdg-open")


def launch(target: str) -> subprocess.Popen[bytes] | None:
    """Start :func:`opener` on ``target`` with the user's environment, detached; None if there is none or it
    cannot start (the caller then falls back to Qt)."""
    program = opener()
    if program is None:
        return None
    try:
        return subprocess.Popen([program, target], env=bundle.user_environment(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        logger.warning("could not start %s: %s", program, exc)
        return None


def open_url(url: str) -> bool:
    """Open a web address in the user's browser; True if it was handed over."""
    if launch(url) is not None:
        return True
    return QDesktopServices.openUrl(QUrl(url))


def open_folder(folder: Path | str) -> bool:
    """Show a folder in the user's file manager; True if it was handed over."""
    if launch(str(folder)) is not None:
        return True
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


__all__ = ["launch", "open_folder", "open_url", "opener"]
