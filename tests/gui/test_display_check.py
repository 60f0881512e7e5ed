"""A start where Qt cannot open a window says why in a sentence (exit 1), not with Qt's abort (134)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from isyncsf_desktop.gui import display_check
from isyncsf_desktop.gui.display_check import why_no_window


def test_no_display_at_all() -> None:
    assert "there is no display" in why_no_window({}, "linux")
    assert "there is no display" in why_no_window({"QT_QPA_PLATFORM": "xcb"}, "linux")


@pytest.mark.parametrize(("environ", "platform"), [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
    ({"QT_QPA_PLATFORM": "minimal:x"}, "linux"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),
    ({}, "win32"),
    ({}, "darwin"),
])
def test_nothing_to_say_where_a_window_needs_no_display_or_the_platform_takes_care(environ, platform) -> None:
    assert why_no_window(environ, platform) is None


def test_a_missing_system_library_is_named_with_its_package(monkeypatch) -> None:
    monkeypatch.setattr(display_check, "xcb_plugin", lambda: "/qt/plugins/platforms/libqxcb.so")
    monkeypatch.setattr(display_check, "_load_error", lambda path: (
        "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"))
    reason = why_no_window({"DISPLAY": ":0"}, "linux")
    assert reason == ("a system library the window needs is missing: libxcb-cursor.so.0. Install libxcb-cursor0 "
                      "(Debian, Ubuntu) or xcb-util-cursor (Fedora, RHEL) and start iSyncSF Desktop again")


def test_an_x11_display_whose_plugin_loads_is_fine(monkeypatch) -> None:
    monkeypatch.setattr(display_check, "xcb_plugin", lambda: "/qt/plugins/platforms/libqxcb.so")
    monkeypatch.setattr(display_check, "_load_error", lambda path: None)
    assert why_no_window({"DISPLAY": ":0"}, "linux") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt aborts without a display on Linux")
def test_the_app_started_with_no_display_exits_1_with_a_sentence(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["ISYNCSF_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "isyncsf_desktop", "--smoke"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "iSyncSF Desktop cannot start: there is no display to open the window on" in done.stderr
