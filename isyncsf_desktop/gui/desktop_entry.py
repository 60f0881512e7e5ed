"""Linux menus: install (or remove) the app's freedesktop entry and icons for the current user.

``isyncsf-desktop --install-desktop-entry`` writes ``$XDG_DATA_HOME/applications/isyncsf-desktop.desktop``
(``~/.local/share`` when unset), with ``Exec`` pointing at this very launcher (the built app's
executable, or the ``isyncsf-desktop`` script of the environment it was installed into), and the icon
as ``icons/hicolor/NxN/apps/isyncsf.png`` in every hicolor size plus ``scalable/apps/isyncsf.svg``.
Nothing needs root; ``--uninstall-desktop-entry`` removes exactly those files.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .. import paths
from .icons import HICOLOR_SIZES, app_svg, render_sizes

logger = logging.getLogger(__name__)

ENTRY_NAME = "isyncsf-desktop.desktop"
ICON_NAME = "isyncsf"
LAUNCHER = "isyncsf-desktop"
_RESERVED = re.compile(r'[\s"\'\\><~|&;$*?#()`]')


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` (the freedesktop default)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How a menu entry starts this app: the frozen executable, the environment's launcher script, or
    this Python running the package."""
    appimage = os.environ.get("APPIMAGE")
    if paths.is_frozen() and appimage:       # inside an AppImage: the executable is in a temporary mount
        return [str(Path(appimage).resolve())]
    if paths.is_frozen():
        return [str(Path(sys.executable).resolve())]
    beside = Path(sys.executable).with_name(LAUNCHER)
    found = beside if beside.exists() else (Path(p) if (p := shutil.which(LAUNCHER)) else None)
    if found is not None:
        return [str(found.resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "isyncsf_desktop"]


def quote_exec_arg(arg: str) -> str:
    """One ``Exec`` argument as the Desktop Entry Specification wants it: double-quoted when it holds a
    reserved character (with ``"`` `` ` `` ``$`` ``\\`` escaped inside), ``%`` doubled, and every
    backslash escaped once more because ``Exec`` is a string value."""
    arg = arg.replace("%", "%%")
    if _RESERVED.search(arg):
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg.replace("\\", "\\\\")


def desktop_entry_text(command: list[str]) -> str:
    """The shipped entry with ``Exec`` (and ``TryExec``, for a launcher file) set to ``command``."""
    template = paths.package_data("data", ENTRY_NAME).read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(quote_exec_arg(arg) for arg in command)
        elif line.startswith("TryExec="):
            if len(command) > 1:   # `python -m …`: nothing single to test for
                continue
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def installed_files(home: Path | None = None) -> list[Path]:
    """Every file :func:`install` writes under ``home`` (the data home by default)."""
    home = home or data_home()
    icons = home / "icons" / "hicolor"
    return [home / "applications" / ENTRY_NAME, icons / "scalable" / "apps" / f"{ICON_NAME}.svg",
            *(icons / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png" for size in HICOLOR_SIZES)]


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the entry and icons for this user; returns the files written."""
    home = home or data_home()
    entry, svg, *pngs = installed_files(home)
    rendered = render_sizes(app_svg(), HICOLOR_SIZES)
    for size, target in zip(HICOLOR_SIZES, pngs, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered[size])
    svg.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(app_svg(), svg)
    entry.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_text(entry, desktop_entry_text(command or launcher_command()))
    entry.chmod(0o755)   # some desktops only launch entries that are executable
    _refresh_caches(home)
    logger.info("desktop entry installed in %s", entry)
    return [entry, svg, *pngs]


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; returns the files that were there."""
    home = home or data_home()
    removed = []
    for path in installed_files(home):
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh_caches(home)
    return removed


def _refresh_caches(home: Path) -> None:
    """Tell the menus and the icon theme, where their tools exist (best effort: menus rescan anyway)."""
    for tool, args in (("update-desktop-database", [str(home / "applications")]),
                       ("gtk-update-icon-cache", ["--force", "--ignore-theme-index", str(home / "icons" / "hicolor")])):
        executable = shutil.which(tool)
        if executable is None or not Path(args[-1]).is_dir():
            continue
        try:
            subprocess.run([executable, *args], check=False, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.info("%s did not run: %s", tool, exc)
