"""What the built app never loads, left out of the bundle (build.spec filters PyInstaller's lists with it).

* Qt's translations: the app installs no QTranslator, so Qt never reads them.
* Faker's locales other than those the app uses (:data:`FAKER_LOCALES`: the demo orgs are made with
  ``en_US``, which builds on ``en``) and those Faker falls back to for a provider the locale lacks (each
  provider's ``default_locale``: ``en_GB`` for bank, ``la`` for lorem). A new use of another locale must be
  added here.
* On Linux, the platform plugins a desktop user never runs (framebuffer, EGLFS, VNC, Vulkan display) and
  the Qt libraries only they need. ``xcb``, ``wayland``, ``offscreen`` and ``minimal`` stay.
* On Linux, the libraries the bundle holds only because the GTK 3 theme plugin needs them (cairo, pango,
  gdk-pixbuf...): without GTK 3 on the system the plugin cannot load anyway, and with it the system's own
  copies serve. The plugin itself stays.

Each filter takes PyInstaller's ``(dest_name, src_name, typecode)`` entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

Entry = tuple[str, str, str]

FAKER_LOCALES = frozenset({"en", "en_US"})
_LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z][A-Za-z]{1,3})?$")
LINUX_UNUSED_PLATFORMS = frozenset({"libqeglfs.so", "libqlinuxfb.so", "libqminimalegl.so", "libqvkkhrdisplay.so",
                                    "libqvnc.so"})
LINUX_UNUSED_QT_LIBS = frozenset({"libQt6EglFSDeviceIntegration.so.6", "libQt6EglFsKmsSupport.so.6"})
GTK_THEME_PLUGIN = "libqgtk3.so"


def _parts(dest: str) -> tuple[str, ...]:
    return PurePosixPath(dest.replace("\\", "/")).parts


def faker_locales_to_keep(used: frozenset[str] = FAKER_LOCALES) -> frozenset[str]:
    """``used`` plus the locale each of Faker's providers falls back to (read from the installed Faker)."""
    import importlib
    import pkgutil

    import faker.providers

    defaults = set()
    for module in pkgutil.iter_modules(faker.providers.__path__):
        default = getattr(importlib.import_module(f"faker.providers.{module.name}"), "default_locale", None)
        if default:
            defaults.add(default)
    return frozenset(used | defaults)


def unused_faker_locale(dest: str, keep: frozenset[str] = FAKER_LOCALES) -> bool:
    """A file or module of a Faker locale the app does not use (``faker/providers/<kind>/<locale>/...``)."""
    parts = _parts(dest) if "/" in dest or "\\" in dest else tuple(dest.split("."))
    return (len(parts) >= 4 and parts[0] == "faker" and parts[1] == "providers" and bool(_LOCALE.match(parts[3]))
            and parts[3] not in keep)


def unused_qt_file(dest: str, platform: str) -> bool:
    """A Qt file the app never loads: a translation, or (Linux) a platform plugin no desktop uses."""
    parts = _parts(dest)
    if "PySide6" in parts and "translations" in parts:
        return True
    if not platform.startswith("linux"):
        return False
    name = parts[-1]
    if "platforms" in parts and name in LINUX_UNUSED_PLATFORMS:
        return True
    return "egldeviceintegrations" in parts or name in LINUX_UNUSED_QT_LIBS


def drop_files(entries: Iterable[Entry], platform: str, keep_locales: frozenset[str] = FAKER_LOCALES) -> list[Entry]:
    """``entries`` without Qt translations, unused platform plugins and Faker locales not in ``keep_locales``."""
    return [e for e in entries
            if not unused_qt_file(e[0], platform) and not unused_faker_locale(e[0], keep_locales)]


def drop_gtk_only_libraries(binaries: list[Entry], imports: Callable[[str], Iterable[str]]) -> list[Entry]:
    """``binaries`` without the top-level libraries that only the GTK 3 theme plugin needs.

    ``imports(src)`` names every library ``src`` needs, directly or not (PyInstaller's bindepend)."""
    theme = [e for e in binaries if _parts(e[0])[-1] == GTK_THEME_PLUGIN]
    if not theme:
        return binaries
    top_level = {e[0]: e for e in binaries if len(_parts(e[0])) == 1}
    for_theme = set(imports(theme[0][1])) & set(top_level)
    needed: set[str] = set()
    for dest, src, _ in binaries:
        if dest not in for_theme and _parts(dest)[-1] != GTK_THEME_PLUGIN:
            needed.update(imports(src))
    gtk_only = for_theme - needed
    return [e for e in binaries if e[0] not in gtk_only]


__all__ = ["FAKER_LOCALES", "drop_files", "faker_locales_to_keep", "drop_gtk_only_libraries", "unused_faker_locale", "unused_qt_file"]
