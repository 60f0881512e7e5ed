"""The built app opens the login page and the log folder with the user's environment (a fake xdg-open records it)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from isyncsf_desktop.gui import external

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Windows hands URLs to the shell, not to a program")


@pytest.fixture
def fake_opener(tmp_path: Path, monkeypatch) -> Path:
    """A fake ``xdg-open`` / ``open`` first on PATH that writes its arguments and environment to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen.json"
    for name in ("xdg-open", "open"):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                          f"open({str(seen)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'env': dict(os.environ)}}))\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    bundle = tmp_path / "bundle"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bundle), str(bin_dir), os.environ.get("PATH", "")]))
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{bundle}{os.pathsep}/home/me/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/home/me/lib")
    monkeypatch.setenv("QT_PLUGIN_PATH", str(bundle / "PySide6" / "Qt" / "plugins"))
    return seen


def test_the_built_app_starts_the_opener_with_the_users_environment(fake_opener: Path) -> None:
    started = external.launch("https://login.salesforce.com/services/oauth2/authorize?x=1")
    assert started is not None
    assert started.wait(60) == 0
    seen = json.loads(fake_opener.read_text())
    assert seen["argv"] == ["https://login.salesforce.com/services/oauth2/authorize?x=1"]
    assert seen["env"]["LD_LIBRARY_PATH"] == "/home/me/lib"
    assert "LD_LIBRARY_PATH_ORIG" not in seen["env"] and "QT_PLUGIN_PATH" not in seen["env"]
    assert str(Path(sys._MEIPASS)) not in seen["env"]["PATH"].split(os.pathsep)


def test_outside_the_built_app_qt_opens_it(monkeypatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert external.opener() is None and external.launch("https://example.com") is None
    opened: list[str] = []
    monkeypatch.setattr(external.QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    assert external.open_url("https://example.com/x") and external.open_folder("/tmp")
    assert opened == ["https://example.com/x", "file:///tmp"]
