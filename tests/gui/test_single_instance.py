"""One app per user and data folder: the lock decides the first app, a second launch raises its window."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtWidgets import QMainWindow

from isyncsf_desktop import paths
from isyncsf_desktop.gui.app import raise_window
from isyncsf_desktop.gui.single_instance import SingleInstance

pytestmark = pytest.mark.gui


@pytest.fixture
def primary(qapp):
    instance = SingleInstance()
    assert instance.acquire() and instance.is_primary
    yield instance
    instance.release()


def test_a_second_instance_is_refused_and_wakes_the_first(primary, qtbot):
    second = SingleInstance()
    assert second.key == primary.key
    assert not second.acquire() and not second.is_primary
    with qtbot.waitSignal(primary.activation_requested, timeout=5_000):
        assert second.notify_primary()


def test_after_release_the_next_launch_is_the_first(primary):
    primary.release()
    again = SingleInstance()
    try:
        assert again.acquire()
    finally:
        again.release()


def test_another_data_folder_is_another_app(primary, tmp_path, monkeypatch):
    key = primary.key
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "portable"))
    other = SingleInstance()
    try:
        assert other.key != key
        assert other.acquire()
    finally:
        other.release()


def test_nobody_answering_is_reported_not_waited_for_forever(primary, qtbot):
    primary._server.close()   # locked but deaf: a first app that hangs before it listens
    second = SingleInstance()
    assert not second.acquire()
    assert not second.notify_primary(timeout_ms=300)


def child_env() -> dict[str, str]:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")


@pytest.mark.timeout(120)
def test_a_second_launch_of_the_app_raises_the_first_window_and_exits(primary, qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.showMinimized()
    primary.activation_requested.connect(lambda: raise_window(window))
    with qtbot.waitSignal(primary.activation_requested, timeout=60_000):
        done = subprocess.run([sys.executable, "-m", "isyncsf_desktop"], env=child_env(), capture_output=True,
                              text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert not window.isMinimized() and window.isVisible()
    log = paths.log_file().read_text(encoding="utf-8")
    assert "already running; its window was raised" in log
    assert not paths.journal_path().exists()   # the second launch never opened the journal


@pytest.mark.timeout(120)
def test_the_lock_of_a_crashed_app_does_not_block_the_next_start(qapp, qtbot):
    crashed = textwrap.dedent("""
        import os
        from PySide6.QtCore import QCoreApplication
        from isyncsf_desktop.gui.single_instance import SingleInstance
        app = QCoreApplication([])
        instance = SingleInstance()
        assert instance.acquire()
        os._exit(0)   # dies holding the lock and leaving its socket behind
    """)
    done = subprocess.run([sys.executable, "-c", crashed], env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert any(p.suffix == ".lock" for p in paths.data_dir().iterdir())
    after = SingleInstance()
    try:
        assert after.acquire()
        with qtbot.waitSignal(after.activation_requested, timeout=5_000):   # listening on the left socket's name
            assert SingleInstance().notify_primary()
    finally:
        after.release()
