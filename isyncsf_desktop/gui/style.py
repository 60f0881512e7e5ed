"""The app's look: Fusion with a light palette and a few accents, the same on every platform."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ..engine.lifecycle import JobState

ACCENT = "#0b5cab"
SUCCESS = "#2e844a"
WARNING = "#a96404"
ERROR = "#ba0517"
MUTED = "#5c5c5c"
FOCUS = "#032d60"      # the ring round the control that has the keyboard focus (dark: visible on the accent too)

TONE_COLOURS: dict[str, str] = {"success": SUCCESS, "warning": WARNING, "muted": MUTED, "accent": ACCENT}
"""The colour of each tone a job state has (:attr:`JobState.tone`)."""


def state_colour(state: JobState | str, *, interrupted: bool = False, left: int = 0) -> str:
    """The colour a job state is shown in (its badge on the Execute tab, its cell and title on History):
    its lifecycle tone's colour; a job a crash left interrupted, or a rollback that left ``left`` records on the
    target (they failed to delete or restore), is shown as a warning whatever its state."""
    if interrupted or (left and JobState(state) is JobState.ROLLBACK_COMPLETED):
        return WARNING
    return TONE_COLOURS[JobState(state).tone]

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: #f3f3f3; }}
QTabWidget::pane {{ border: 1px solid #d8d8d8; border-radius: 4px; background: white; top: -1px; }}
QTabBar::tab {{ padding: 7px 16px; border: 1px solid transparent; margin-right: 2px; color: #3e3e3c; }}
QTabBar::tab:selected {{ background: white; border: 1px solid #d8d8d8; border-bottom-color: white;
                        border-top-left-radius: 4px; border-top-right-radius: 4px; color: {ACCENT};
                        font-weight: 600; }}
QGroupBox {{ font-weight: 600; border: 1px solid #dddbda; border-radius: 6px; margin-top: 14px;
            padding: 10px 8px 8px 8px; background: white; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #181818; }}
QPushButton {{ padding: 5px 14px; border: 1px solid #c9c9c9; border-radius: 4px; background: white; }}
QPushButton:hover {{ background: #f3f8fd; border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #a0a0a0; background: #f4f4f4; border-color: #e0e0e0; }}
QPushButton[accent="true"] {{ background: {ACCENT}; color: white; border-color: {ACCENT}; font-weight: 600; }}
QPushButton[accent="true"]:disabled {{ background: #a8c5e6; border-color: #a8c5e6; color: #eef4fb; }}
QPushButton[danger="true"] {{ color: {ERROR}; border-color: #e8a8a8; }}
QPushButton[danger="true"]:disabled {{ color: #d0a0a0; }}
QPushButton:focus {{ border: 2px solid {FOCUS}; padding: 4px 13px; }}
QPushButton[accent="true"]:focus {{ border: 2px solid {FOCUS}; background: #0a4f94; }}
QTableView, QTreeView, QListView {{ border: 1px solid #c9c9c9; }}
QTableView:focus, QTreeView:focus, QListView:focus {{ border: 1px solid {FOCUS}; }}
QTabBar::tab:focus {{ border: 1px solid {FOCUS}; }}
QLabel[role="title"] {{ font-size: 15pt; font-weight: 600; color: #181818; }}
QLabel[role="subtle"] {{ color: {MUTED}; }}
QLabel[badge="true"] {{ border-radius: 8px; padding: 1px 8px; color: white; font-weight: 600; }}
QFrame[role="header"] {{ background: white; border-bottom: 1px solid #dddbda; }}
QTableView {{ gridline-color: #ececec; selection-background-color: #d8e6fe; selection-color: #181818;
             alternate-background-color: #fafaf9; }}
QHeaderView::section {{ background: #f3f3f3; padding: 4px 6px; border: none; border-bottom: 1px solid #dddbda;
                       font-weight: 600; color: #3e3e3c; }}
QProgressBar {{ border: 1px solid #d8d8d8; border-radius: 3px; text-align: center; background: #f3f3f3;
               min-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QStatusBar {{ background: white; border-top: 1px solid #dddbda; }}
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#f3f3f3"))
    palette.setColor(QPalette.ColorRole.Base, QColor("white"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#fafaf9"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#d8e6fe"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#181818"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#181818"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#181818"))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor("#181818"))
    palette.setColor(QPalette.ColorRole.Button, QColor("white"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8c8c8c"))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
