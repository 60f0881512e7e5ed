"""``isyncsf-desktop``: start the desktop app.

On first launch (no orgs configured) the embedded sandbox org server starts in the background and
its two demo orgs are registered, and the demo template opens, so a new user lands on a working
setup without a Salesforce org.

One app runs per user (a second launch raises the first window and exits), uncaught exceptions show
a dialog (:mod:`.crash`), and the log rotates in the platform's log folder. Options:

``--smoke``                     open the window on the demo orgs, run a demo sync, exit 0 (or 1)
``--smoke-report FILE``         with ``--smoke``: also write its figures to FILE (JSON)
``--install-desktop-entry``     Linux: add the app to this user's menus (``--uninstall-desktop-entry``)
``--version``                   print the version and exit

Anything else on the command line goes to Qt (``-platform offscreen``, ``-style fusion``, …).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import logging.handlers
import os
import shutil
import sys
import tempfile
import time
import weakref
from importlib import resources
from pathlib import Path
from typing import IO, Any

from PySide6.QtCore import QtMsgType, Qt, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from .. import __version__, paths

logger = logging.getLogger(__name__)

LOG_BYTES = 2_000_000      # one log file's size before it rotates
LOG_BACKUPS = 5            # isyncsf.log.1 … .5 are kept beside the current one
_fault_log: IO[str] | None = None


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every new file is private to the user (0600), like the rest of the app's data."""

    def _open(self):  # type: ignore[no-untyped-def]  # logging's own hook, called for each new file
        stream = super()._open()
        paths.make_private(Path(self.baseFilename))
        return stream


def setup_logging() -> None:
    """Log to a rotating file in the log dir, warnings also to stderr when there is one."""
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    handler = PrivateRotatingFileHandler(paths.log_file(), maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS,
                                         encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if _is_real_stream(sys.stderr):
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    root.setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _is_real_stream(stream: Any) -> bool:
    return stream is not None and getattr(stream, "name", "") != os.devnull


def _enable_fault_log() -> None:
    """A hard crash (a segfault in a native library) writes its Python stacks to ``fatal.log``."""
    global _fault_log
    if _fault_log is None:
        _fault_log = open(paths.log_dir() / "fatal.log", "a", encoding="utf-8")  # noqa: SIM115 - for the process
        faulthandler.enable(_fault_log, all_threads=True)


def _disable_fault_log() -> None:
    global _fault_log
    if _fault_log is not None:
        faulthandler.disable()
        _fault_log.close()
        _fault_log = None


def _on_qt_message(kind: QtMsgType, context: Any, text: str) -> None:
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING}.get(kind, logging.ERROR)
    logging.getLogger("qt").log(level, "%s", text)


def _give_std_streams() -> None:
    """A windowed Windows build has no stdout/stderr (None): give it sinks, so print and argparse work."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - for the process


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
    app.setDesktopFileName("isyncsf-desktop")   # Wayland app id = the .desktop file's name
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def raise_window(window: QWidget) -> None:
    """Bring ``window`` to the front (a second launch asked for it)."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="isyncsf-desktop", description="iSyncSF Desktop: copy Salesforce records "
                                "between orgs, keep every relationship, and undo it.")
    p.add_argument("--version", action="version", version=f"iSyncSF Desktop {__version__}")
    p.add_argument("--smoke", action="store_true",
                   help="open the window on the demo orgs, run a demo sync, exit 0 when it worked (1 otherwise)")
    p.add_argument("--smoke-report", type=Path, metavar="FILE", help="with --smoke: write its figures to FILE")
    p.add_argument("--smoke-timeout", type=float, default=240.0, metavar="SECONDS", help=argparse.SUPPRESS)
    # Open URL the way the app opens the login page, wait for the opener, exit: the built app's test runs it
    # with a fake xdg-open to see the environment a browser gets.
    p.add_argument("--open-url", metavar="URL", help=argparse.SUPPRESS)
    entry = p.add_mutually_exclusive_group()
    entry.add_argument("--install-desktop-entry", action="store_true",
                       help="Linux: add iSyncSF Desktop to this user's application menu, with its icon")
    entry.add_argument("--uninstall-desktop-entry", action="store_true",
                       help="Linux: remove what --install-desktop-entry added")
    return p


def _desktop_entry(options: argparse.Namespace) -> int:
    if not sys.platform.startswith("linux"):
        print("desktop entries are for Linux; on Windows and macOS the built app is started from its folder",
              file=sys.stderr)
        return 2
    from . import desktop_entry

    if options.install_desktop_entry:
        for path in desktop_entry.install():
            print(path)
    else:
        removed = desktop_entry.uninstall()
        print("\n".join(map(str, removed)) if removed else "no desktop entry was installed")
    return 0


def main(argv: list[str] | None = None) -> int:
    started_at = time.perf_counter()
    _give_std_streams()
    argv = list(sys.argv if argv is None else argv)
    options, qt_args = parser().parse_known_args(argv[1:])
    if options.install_desktop_entry or options.uninstall_desktop_entry:
        return _desktop_entry(options)
    if options.open_url:
        from .external import launch

        opener = launch(options.open_url)
        return 1 if opener is None else opener.wait()
    smoke_home = None
    if options.smoke and not os.environ.get(paths.HOME_ENV):
        smoke_home = Path(tempfile.mkdtemp(prefix="isyncsf-smoke-"))
        os.environ[paths.HOME_ENV] = str(smoke_home)
    try:
        code = _run(options, [argv[0] if argv else "isyncsf-desktop", *qt_args], started_at)
    finally:
        logging.shutdown()
        _disable_fault_log()
    if smoke_home is not None and code == 0:
        shutil.rmtree(smoke_home, ignore_errors=True)
    elif smoke_home is not None:
        print(f"smoke: the data and log of the failed run are in {smoke_home}", file=sys.stderr)
    return code


def _run(options: argparse.Namespace, qt_argv: list[str], started_at: float) -> int:
    setup_logging()
    _enable_fault_log()
    qInstallMessageHandler(_on_qt_message)
    logger.info("iSyncSF Desktop %s starting%s", __version__, " (smoke test)" if options.smoke else "")
    if "-platform" not in qt_argv:      # Qt would abort (134) where it cannot open a window: say why instead
        from .display_check import tell, why_no_window

        reason = why_no_window()
        if reason is not None:
            tell(reason)
            return 1
    app = create_application(qt_argv)
    from .crash import CrashReporter

    crash = CrashReporter(app)
    crash.install()
    instance = None
    if not options.smoke:
        from .single_instance import SingleInstance

        instance = SingleInstance(parent=app)
        if not instance.acquire():
            answered = instance.notify_primary()
            logger.info("iSyncSF Desktop is already running; %s", "its window was raised" if answered
                        else "it did not answer")
            if not answered:
                from PySide6.QtWidgets import QMessageBox

                QMessageBox.warning(None, "iSyncSF Desktop", "iSyncSF Desktop is already running, but its window "
                                    "did not answer. Close it (or end it in the task manager) and start again.")
            crash.uninstall()
            return 0 if answered else 1
    from .journal_check import ask_to_move_aside, journal_ready
    from .main_window import MainWindow
    from .style import apply_style

    apply_style(app)
    if not journal_ready(ask=None if options.smoke else ask_to_move_aside):
        if instance is not None:
            instance.release()
        crash.uninstall()
        return 1
    if options.smoke:
        from .smoke import SmokeRun, isolate

        isolate()
    window = MainWindow()
    window.show()
    if instance is not None:
        shown = weakref.ref(window)   # the slot must not own the window
        instance.activation_requested.connect(lambda: (w := shown()) is not None and raise_window(w))
    if options.smoke:
        run = SmokeRun(window, started_at=started_at, report_file=options.smoke_report,
                       timeout_s=options.smoke_timeout, parent=app)
        run.start()
    else:
        window.start()
    code = app.exec()
    if options.smoke and run.exit_code is not None:
        code = run.exit_code
    if instance is not None:
        instance.release()
    crash.uninstall()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
