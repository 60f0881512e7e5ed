"""The About box (versions of the app and what it runs on, and where its files are) and the Help menu."""

from __future__ import annotations

import logging
import platform
import weakref
from importlib import metadata

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QGuiApplication, QIcon
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QMainWindow, QPushButton, QVBoxLayout,
                               QWidget)

from .. import __version__, paths
from . import external
from .icons import app_svg

logger = logging.getLogger(__name__)


def _distribution_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    """What a bug report needs, in display order."""
    return {
        "iSyncSF Desktop": __version__,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "simple-salesforce": _distribution_version("simple-salesforce"),
        "Operating system": platform.platform(terse=True),
        "Installed as": "the built app" if paths.is_frozen() else "a Python package",
    }


def versions_text() -> str:
    return "\n".join(f"{name}: {value}" for name, value in versions().items())


class AboutDialog(QDialog):
    """Name, icon, versions, data and log folders; Copy Versions puts the versions on the clipboard."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About iSyncSF Desktop")
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        head = QLabel()
        head.setPixmap(QIcon(str(app_svg())).pixmap(64, 64))
        head.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(head)
        title = QLabel(f"<h2>iSyncSF Desktop {__version__}</h2>"
                       "Copy Salesforce records between orgs, keep every relationship, and undo it.")
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        title.setWordWrap(True)
        layout.addWidget(title)

        form = QFormLayout()
        self.version_labels: dict[str, QLabel] = {}
        for name, value in versions().items():
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.version_labels[name] = label
            form.addRow(f"{name}:", label)
        for name, folder in (("Data folder", paths.data_dir()), ("Log folder", paths.log_dir())):
            link = QLabel(f'<a href="{QUrl.fromLocalFile(str(folder)).toString()}">{folder}</a>')
            link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            link.linkActivated.connect(lambda url: external.open_folder(QUrl(url).toLocalFile()))
            form.addRow(f"{name}:", link)
        layout.addLayout(form)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy Versions")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(versions_text()))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def open_log_folder() -> bool:
    return external.open_folder(paths.log_dir())


def add_help_menu(window: QMainWindow) -> QAction:
    """A Help menu: Open Log Folder, and About (which Qt moves into the application menu on macOS);
    returns the About action."""
    menu = window.menuBar().addMenu("&Help")
    logs = QAction("Open &Log Folder", window)
    logs.triggered.connect(open_log_folder)
    menu.addAction(logs)
    action = QAction("&About iSyncSF Desktop", window)
    action.setMenuRole(QAction.MenuRole.AboutRole)
    owner = weakref.ref(window)   # no reference cycle window -> action -> slot -> window
    action.triggered.connect(lambda: AboutDialog(owner()).exec())
    menu.addAction(action)
    return action
