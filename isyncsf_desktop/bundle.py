"""The built app's bundle and the programs it starts.

A PyInstaller bundle changes its own process environment so that its private libraries are found: the
bootloader prepends the bundle to ``LD_LIBRARY_PATH`` (Linux; ``LIBPATH`` on AIX) and keeps the user's value
in ``<NAME>_ORIG``; the Qt runtime hook sets ``QT_PLUGIN_PATH`` and ``QML2_IMPORT_PATH`` to the bundle's and,
on macOS and Windows, prepends the bundle to ``DYLD_LIBRARY_PATH`` / ``PATH``. A program the app starts (the
browser that shows the Salesforce login page, the file manager for the log folder) must not inherit that: it
would load the bundle's Qt, OpenSSL or libstdc++ instead of its own and crash or misbehave.
:func:`user_environment` is the environment the user started the app with. Qt-free.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

SEARCH_PATHS = ("LD_LIBRARY_PATH", "LIBPATH", "DYLD_LIBRARY_PATH", "PATH")
"""Path lists the bundle may have put itself into (the bootloader keeps the user's in ``<NAME>_ORIG``)."""
QT_VARIABLES = ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH")
"""Set to the bundle's folders by the Qt runtime hook (the user's values are not kept)."""


def frozen() -> bool:
    """True in the built app (PyInstaller), False when run from an installed package or a checkout."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def user_environment(environ: Mapping[str, str] | None = None, bundle: str | None = None) -> dict[str, str]:
    """The environment for a program the app starts: the user's, without what the bundle added.

    Outside the built app it is ``environ`` unchanged."""
    env = dict(os.environ if environ is None else environ)
    bundle = bundle if bundle is not None else (getattr(sys, "_MEIPASS", None) if frozen() else None)
    if not bundle:
        return env
    inside = os.path.normcase(os.path.abspath(bundle))

    def in_bundle(entry: str) -> bool:
        path = os.path.normcase(os.path.abspath(entry)) if entry else ""
        return path == inside or path.startswith(inside + os.sep)

    for name in SEARCH_PATHS:
        original = env.pop(f"{name}_ORIG", None)
        if original is not None:
            env[name] = original
        elif name in env:
            kept = [entry for entry in env[name].split(os.pathsep) if entry and not in_bundle(entry)]
            if kept:
                env[name] = os.pathsep.join(kept)
            else:
                del env[name]
    for name in QT_VARIABLES:
        if name in env and all(in_bundle(entry) for entry in env[name].split(os.pathsep) if entry):
            del env[name]
    for name in [n for n in env if n.startswith("_PYI_") or n == "_MEIPASS2"]:
        del env[name]                   # the bootloader's own markers: a program the app starts is no part of it
    return env


__all__ = ["QT_VARIABLES", "SEARCH_PATHS", "frozen", "user_environment"]
