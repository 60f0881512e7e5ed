"""What a program the built app starts inherits: the user's environment, not the bundle's library paths."""

from __future__ import annotations

import os
import sys

from isyncsf_desktop.bundle import user_environment

BUNDLE = os.path.join(os.sep, "opt", "isyncsf", "_internal")


def test_outside_the_built_app_nothing_changes(monkeypatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    env = {"LD_LIBRARY_PATH": "/x", "QT_PLUGIN_PATH": "/y", "PATH": "/usr/bin"}
    assert user_environment(env) == env


def test_the_bootloaders_library_path_gives_way_to_the_users() -> None:
    env = {"LD_LIBRARY_PATH": f"{BUNDLE}:/home/me/lib", "LD_LIBRARY_PATH_ORIG": "/home/me/lib", "HOME": "/home/me",
           "_PYI_ARCHIVE_FILE": "x", "_PYI_PARENT_PROCESS_LEVEL": "1", "_MEIPASS2": BUNDLE}
    assert user_environment(env, BUNDLE) == {"LD_LIBRARY_PATH": "/home/me/lib", "HOME": "/home/me"}


def test_a_library_path_the_user_never_had_is_removed() -> None:
    assert "LD_LIBRARY_PATH" not in user_environment({"LD_LIBRARY_PATH": BUNDLE}, BUNDLE)
    assert "DYLD_LIBRARY_PATH" not in user_environment({"DYLD_LIBRARY_PATH": os.path.join(BUNDLE, "lib")}, BUNDLE)


def test_the_bundle_leaves_path_and_the_qt_variables_that_point_into_it() -> None:
    env = {"PATH": os.pathsep.join([BUNDLE, "/usr/local/bin", "/usr/bin"]),
           "QT_PLUGIN_PATH": os.path.join(BUNDLE, "PySide6", "Qt", "plugins"),
           "QML2_IMPORT_PATH": os.path.join(BUNDLE, "PySide6", "Qt", "qml")}
    assert user_environment(env, BUNDLE) == {"PATH": os.pathsep.join(["/usr/local/bin", "/usr/bin"])}


def test_a_qt_plugin_path_of_the_users_own_is_kept() -> None:
    assert user_environment({"QT_PLUGIN_PATH": "/home/me/qtplugins"}, BUNDLE) == {"QT_PLUGIN_PATH": "/home/me/qtplugins"}


def test_a_folder_beside_the_bundle_is_not_mistaken_for_it() -> None:
    beside = BUNDLE + "-tools"
    assert user_environment({"PATH": beside}, BUNDLE) == {"PATH": beside}
