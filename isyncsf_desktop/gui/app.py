"""``isyncsf-desktop``: start the desktop app.

On first launch (no orgs configured) the embedded sandbox org server starts in the background and
its two demo orgs are registered, and the demo template opens, so a new user lands on a working
setup without a Salesforce org.
"""

from __future__ import annotations

import logging
import logging.handlers
import shutil
import sys
from importlib import resources
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from .. import __version__, paths

logger = logging.getLogger(__name__)

DEMO_TEMPLATE = "demo.json"


def setup_logging() -> None:
    """Log to a rotating file in the log dir (and stderr for warnings)."""
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(paths.log_dir() / "isyncsf.log", maxBytes=2_000_000,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def install_demo_template() -> Path:
    """Copy the shipped demo template into the templates dir (once); returns its path."""
    target = paths.templates_dir() / DEMO_TEMPLATE
    if not target.exists():
        source = resources.files("isyncsf_desktop").joinpath("data", "templates", DEMO_TEMPLATE)
        with resources.as_file(source) as src:
            shutil.copyfile(src, target)
    return target


def app_icon() -> QIcon:
    icon_file = resources.files("isyncsf_desktop").joinpath("data", "icons", "isyncsf.svg")
    with resources.as_file(icon_file) as path:
        return QIcon(str(path)) if Path(path).exists() else QIcon()


def create_application(argv: list[str] | None = None) -> QApplication:
    if QApplication.instance() is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("iSyncSF Desktop")
    app.setOrganizationName("iSyncSF")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    app = create_application(argv)
    from .main_window import MainWindow
    from .style import apply_style

    apply_style(app)
    window = MainWindow()
    window.show()
    window.start()
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
