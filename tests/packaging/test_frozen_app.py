"""The built app, from a clean PyInstaller build on this machine: it passes ``--smoke``, a second launch
raises the first and exits, and ``--install-desktop-entry`` points the menu at the built executable.

Minutes of CPU, so marked ``build`` (and ``slow``): not in the default run. ``pytest -m build`` runs it;
``.ci/run`` runs it after the main suite when enough of CI's time is left (see there).
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.build, pytest.mark.slow, pytest.mark.timeout(1500),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CI workflow builds the others")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("PyInstaller")
    dist = tmp_path_factory.mktemp("dist")
    work = tmp_path_factory.mktemp("work")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--smoke", "--dist", str(dist),
                           "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=1400,
                          env=dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen")))
    print(f"packaging/build.py took {time.perf_counter() - started:.0f} s:\n{done.stdout[-3000:]}")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    spec = importlib.util.spec_from_file_location("isyncsf_build_script", ROOT / "packaging" / "build.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return dist, script, json.loads((dist / "build-report.json").read_text())


def test_the_built_app_passes_its_smoke_mode(built):
    dist, script, report = built
    smoke = report["smoke"]
    assert smoke["exit_code"] == 0 and smoke["state"] == "Synced" and smoke["inserted"] > 0
    assert 0 < smoke["start_to_window_s"] < 120
    assert (dist / report["archive"]).is_file() and report["archive"].endswith("-linux-" + report["arch"] + ".tar.gz")
    assert report["bundle_mb"] > 50   # Qt, Python and the sandbox's libraries are inside


def wait_until(condition, process: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    """Poll ``condition`` (a file another process writes) until it holds; fail if ``process`` ends first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"{what}: it exited with {process.returncode}"
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def frozen_env(home: Path) -> dict[str, str]:
    return dict(os.environ, ISYNCSF_HOME=str(home), QT_QPA_PLATFORM="offscreen",
                PYTHON_KEYRING_BACKEND="isyncsf_desktop.salesforce.secrets.MemoryKeyring")


def test_a_second_launch_of_the_built_app_hands_over_to_the_first(built, tmp_path):
    dist, script, _ = built
    executable = script.executable_path(dist, "linux")
    first = subprocess.Popen([str(executable)], env=frozen_env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        log = tmp_path / "logs" / "isyncsf.log"
        wait_until(lambda: "demo org demo-target" in (log.read_text(errors="replace") if log.exists() else ""),
                   first, "the first launch did not start the demo orgs")
        second = subprocess.run([str(executable)], env=frozen_env(tmp_path), capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
        assert "already running; its window was raised" in log.read_text(errors="replace")
        wait_until(lambda: "another launch asked for the window" in log.read_text(errors="replace"), first,
                   "the first launch did not hear the second")
    finally:
        first.terminate()
        first.wait(timeout=60)


def test_the_built_app_installs_its_desktop_entry(built, tmp_path):
    dist, script, _ = built
    executable = script.executable_path(dist, "linux")
    env = dict(frozen_env(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "share"))
    done = subprocess.run([str(executable), "--install-desktop-entry"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(tmp_path / "share" / "applications" / "isyncsf-desktop.desktop")
    assert parser["Desktop Entry"]["Exec"] == str(executable.resolve())
    assert (tmp_path / "share" / "icons" / "hicolor" / "256x256" / "apps" / "isyncsf.png").stat().st_size > 1000


def test_the_built_app_gives_the_browser_the_users_environment_not_its_own(built, tmp_path):
    """A fake xdg-open first on PATH records what the built app hands the browser for the login page."""
    dist, script, _ = built
    executable = script.executable_path(dist, "linux")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen.json"
    fake = bin_dir / "xdg-open"
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"open({str(seen)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'env': dict(os.environ)}}))\n")
    fake.chmod(0o755)
    env = dict(frozen_env(tmp_path / "home"), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               LD_LIBRARY_PATH="/home/me/lib")
    env.pop("QT_PLUGIN_PATH", None)
    url = "https://login.salesforce.com/services/oauth2/authorize?client_id=x"
    done = subprocess.run([str(executable), "--open-url", url], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(seen.read_text())
    assert got["argv"] == [url]
    assert got["env"]["LD_LIBRARY_PATH"] == "/home/me/lib"          # the bootloader had put the bundle first
    assert "QT_PLUGIN_PATH" not in got["env"] and "QML2_IMPORT_PATH" not in got["env"]
    assert not any(name.startswith("_PYI_") or name.endswith("_ORIG") for name in got["env"])
    bundle = str(executable.parent)
    assert not any(entry.startswith(bundle) for entry in got["env"]["PATH"].split(os.pathsep))


def test_the_built_app_without_a_display_says_why_and_exits_1(built, tmp_path):
    dist, script, _ = built
    env = {k: v for k, v in frozen_env(tmp_path / "home").items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([str(script.executable_path(dist, "linux")), "--smoke"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "iSyncSF Desktop cannot start: there is no display to open the window on" in done.stderr


def test_the_bundle_leaves_out_what_the_app_never_loads(built):
    dist, script, _ = built
    internal = script.data_roots(dist, "linux")[0]
    qt = internal / "PySide6" / "Qt"
    assert not (qt / "translations").exists()
    platforms = {p.name for p in (qt / "plugins" / "platforms").iterdir()}
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= platforms and "libqvnc.so" not in platforms
    locales = {p.name for p in (internal / "faker" / "providers" / "address").iterdir() if p.is_dir()}
    assert "en_US" in locales and "de_DE" not in locales
