"""Before the window: can Qt open one here? If not, say why in a sentence instead of Qt's abort.

On Linux and the BSDs Qt ends the process (SIGABRT, exit 134) when no platform plugin can start: no
display at all (a server, an SSH session, a CI runner), or an X11 display whose plugin cannot load
because a system library is missing (Qt 6.5+ needs ``libxcb-cursor0``). :func:`why_no_window` finds those
two cases first; :func:`tell` prints the sentence, logs it and, where a desktop is there to show it,
puts it in a message box of the system's own (zenity, kdialog or xmessage) so a double-click start that
fails does not fail silently. Elsewhere (Windows, macOS) and with a headless platform such as
``offscreen`` it finds nothing to say.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping

from .. import bundle

logger = logging.getLogger(__name__)

WINDOWED = ("", "xcb", "wayland", "wayland-egl")
"""QT_QPA_PLATFORM values (first choice) that need a display."""
PACKAGES = {   # the libraries Qt's X11 plugin needs that a minimal desktop may lack: Debian/Ubuntu, Fedora/RHEL names
    "libxcb-cursor.so.0": "libxcb-cursor0 (Debian, Ubuntu) or xcb-util-cursor (Fedora, RHEL)",
    "libxcb-icccm.so.4": "libxcb-icccm4 (Debian, Ubuntu) or xcb-util-wm (Fedora, RHEL)",
    "libxcb-keysyms.so.1": "libxcb-keysyms1 (Debian, Ubuntu) or xcb-util-keysyms (Fedora, RHEL)",
    "libxcb-image.so.0": "libxcb-image0 (Debian, Ubuntu) or xcb-util-image (Fedora, RHEL)",
    "libxcb-render-util.so.0": "libxcb-render-util0 (Debian, Ubuntu) or xcb-util-renderutil (Fedora, RHEL)",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0 (Debian, Ubuntu) or libxkbcommon-x11 (Fedora, RHEL)",
}


def _first_choice(environ: Mapping[str, str]) -> str:
    return re.split(r"[;:]", environ.get("QT_QPA_PLATFORM", ""), maxsplit=1)[0].strip().lower()


def xcb_plugin() -> str | None:
    """The file of Qt's X11 platform plugin, if this Qt has one."""
    from PySide6.QtCore import QLibraryInfo

    folder = os.path.join(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), "platforms")
    path = os.path.join(folder, "libqxcb.so")
    return path if os.path.isfile(path) else None


def _load_error(path: str) -> str | None:
    """Why the dynamic loader cannot load ``path`` (a missing library), or None when it loads."""
    try:
        ctypes.CDLL(path, mode=os.RTLD_LAZY)
    except OSError as exc:
        return str(exc)
    return None


def why_no_window(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """The sentence that says why Qt cannot open a window here, or None when it can (or cannot tell)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    choice = _first_choice(environ)
    if choice not in WINDOWED:
        return None                                  # offscreen, minimal, vnc...: no display needed
    x11, wayland = bool(environ.get("DISPLAY")), bool(environ.get("WAYLAND_DISPLAY"))
    if not x11 and not wayland:
        return ("there is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): start "
                "iSyncSF Desktop from a desktop session, or use the `isyncsf` command line on a server")
    if x11 and not wayland and choice in ("", "xcb"):
        plugin = xcb_plugin()
        problem = _load_error(plugin) if plugin else None
        if problem:
            missing = re.search(r"(lib[\w.+-]+\.so[\d.]*): cannot open shared object file", problem)
            if missing:
                name = missing.group(1)
                package = PACKAGES.get(name)
                return (f"a system library the window needs is missing: {name}. Install "
                        f"{package or 'the package that provides it'} and start iSyncSF Desktop again")
            return f"Qt's X11 platform plugin cannot be loaded: {problem}"
    return None


def tell(reason: str, environ: Mapping[str, str] | None = None) -> None:
    """Say why the app cannot start: on stderr, in the log and, where there is a display, in a message box."""
    text = f"iSyncSF Desktop cannot start: {reason}."
    logger.error("%s", text)
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError, AttributeError):   # a double-click start may have no usable stderr
        pass
    environ = os.environ if environ is None else environ
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return
    for program, args in (("zenity", ["--error", "--title", "iSyncSF Desktop", "--no-wrap", "--text", text]),
                          ("kdialog", ["--title", "iSyncSF Desktop", "--error", text]),
                          ("xmessage", ["-center", text])):
        found = shutil.which(program, path=environ.get("PATH"))
        if found is None:
            continue
        try:
            subprocess.Popen([found, *args], env=bundle.user_environment(environ), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            return
        except OSError:
            continue


__all__ = ["tell", "why_no_window", "xcb_plugin"]
