"""The main window remembers its geometry, the last template and the last orgs; Help → About shows versions."""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import PySide6
import pytest
from gui_helpers import add_demo_orgs, load_demo_template
from PySide6.QtCore import QRect, QSettings, QTimer, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication

from isyncsf_desktop import __version__, paths
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.gui.about import AboutDialog, versions
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.main_window import MainWindow
from isyncsf_desktop.salesforce.registry import OrgRegistry

pytestmark = pytest.mark.gui


class Launches:
    """Start the main window as a new launch would: a new context over the same settings file."""

    def __init__(self, server, tmp_path: Path, qtbot):
        self.server, self.tmp_path, self.qtbot = server, tmp_path, qtbot
        self.registry = OrgRegistry()
        add_demo_orgs(self.registry, server)
        self.windows: list[MainWindow] = []

    def launch(self) -> MainWindow:
        settings = QSettings(str(self.tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        ctx = AppContext(registry=self.registry, journal=Journal(self.tmp_path / "journal.sqlite3"), settings=settings)
        window = MainWindow(ctx, start_sandbox=False)
        self.qtbot.addWidget(window)
        self.windows.append(window)
        window.show()
        self.qtbot.waitExposed(window)
        window.start()
        return window

    def close(self, window: MainWindow) -> None:
        assert window.close()
        self.windows.remove(window)

    def close_all(self) -> None:
        for window in list(self.windows):
            self.close(window)


@pytest.fixture
def launches(demo_server, tmp_path, qtbot):
    launches = Launches(demo_server, tmp_path, qtbot)
    yield launches
    launches.close_all()


def available() -> QRect:
    return QGuiApplication.primaryScreen().availableGeometry()


def test_geometry_template_and_orgs_come_back_on_the_next_launch(launches, tmp_path):
    first = launches.launch()
    assert first.ctx.template is not None and first.ctx.template.name   # the demo template on a first launch
    assert (first.ctx.source, first.ctx.target) == ("demo-source", "demo-target")   # named by the template

    own = load_demo_template()
    own["name"] = "Accounts only"
    del own["source"], own["target"]   # a template that names no orgs: the last ones used come back
    own_path = tmp_path / "accounts.json"
    own_path.write_text(json.dumps(own))
    first.ctx.open_template(own_path)
    first.ctx.set_source("demo-target")
    first.ctx.set_target("demo-source")
    screen = available()
    # not the default 1280 x 820, and wholly on the test screen (frame included), which a window is kept within
    wanted = QRect(screen.x() + 2, screen.y() + 50, min(960, screen.width() - 4), 700)
    first.setGeometry(wanted)
    launches.qtbot.waitUntil(lambda: first.geometry().size() == wanted.size())
    saved = first.geometry()
    launches.close(first)

    second = launches.launch()
    assert second.geometry() == saved
    assert second.ctx.template_path == own_path and second.ctx.template.name == "Accounts only"
    assert (second.ctx.source, second.ctx.target) == ("demo-target", "demo-source")
    assert "Accounts only" in second.template_label.text()


def test_an_org_removed_since_is_not_picked_again(launches, tmp_path, demo_server):
    demo = launches.registry.get("demo-source")
    launches.registry.add(dataclasses.replace(demo, alias="old-org"), demo_server.token("source"))
    first = launches.launch()
    own = load_demo_template()
    del own["source"], own["target"]
    (tmp_path / "no-orgs.json").write_text(json.dumps(own))
    first.ctx.open_template(tmp_path / "no-orgs.json")
    first.ctx.set_source("old-org")
    first.ctx.set_target("demo-target")
    launches.close(first)
    launches.registry.remove("old-org")

    second = launches.launch()
    assert (second.ctx.source, second.ctx.target) == ("demo-source", "demo-target")


def test_a_maximised_window_opens_maximised(launches):
    first = launches.launch()
    first.showMaximized()
    launches.qtbot.waitUntil(first.isMaximized)
    launches.close(first)
    assert launches.launch().isMaximized()


def test_no_secret_reaches_the_settings_file(launches, tmp_path, demo_server):
    window = launches.launch()
    window.ctx.set_target("demo-target")
    launches.close(window)
    text = (tmp_path / "settings.ini").read_text(encoding="utf-8", errors="replace")
    for org in ("source", "target"):
        assert demo_server.token(org) not in text


def test_help_about_shows_the_versions(launches, qtbot, monkeypatch):
    window = launches.launch()
    help_menu = next(a for a in window.menuBar().actions() if a.menu() is not None and "Help" in a.text()).menu()
    assert [a.text() for a in help_menu.actions()] == ["Open &Log Folder", "&About iSyncSF Desktop"]
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    help_menu.actions()[0].trigger()
    assert opened == [str(paths.log_dir())]
    seen = []

    def close_about() -> None:
        dialog = QApplication.activeModalWidget()
        seen.append(dialog.windowTitle())
        dialog.reject()

    QTimer.singleShot(0, close_about)
    help_menu.actions()[1].trigger()   # the About box is modal: the timer closes it
    assert seen == ["About iSyncSF Desktop"]

    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    shown = {name: label.text() for name, label in dialog.version_labels.items()}
    assert shown["iSyncSF Desktop"] == __version__
    assert shown["Python"].startswith(platform.python_version())
    assert shown["Qt"] == qVersion() and shown["PySide6"] == PySide6.__version__
    assert shown["simple-salesforce"][0].isdigit()
    assert shown == versions()
    qtbot.mouseClick(dialog.copy_button, PySide6.QtCore.Qt.MouseButton.LeftButton)
    assert f"iSyncSF Desktop: {__version__}" in QGuiApplication.clipboard().text()
