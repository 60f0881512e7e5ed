"""What the app remembers between launches, in its QSettings file (never a secret): the window's
size, place and maximised state, and the last source and target orgs (the last template is kept by
:meth:`AppContext.open_template`)."""

from __future__ import annotations

import logging
import weakref

from PySide6.QtCore import QByteArray, QRect, QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow

from .context import AppContext

logger = logging.getLogger(__name__)

GEOMETRY = "window/geometry"
LAST_SOURCE = "orgs/last_source"
LAST_TARGET = "orgs/last_target"
DEMO_SOURCE = "demo-source"


def restore_geometry(window: QMainWindow, settings: QSettings) -> bool:
    """Put ``window`` where it was when it last closed (Qt moves it onto a screen that still exists)."""
    geometry = settings.value(GEOMETRY)
    if not isinstance(geometry, QByteArray) or geometry.isEmpty():
        return False
    if not window.restoreGeometry(geometry):
        logger.info("the saved window geometry could not be used; the default size is kept")
        return False
    return True


TITLE_BAR_ALLOWANCE = 32
"""Room left for the window's title bar while its frame is not known yet (before it is first shown)."""


def fit_to_screen(window: QMainWindow, available: QRect | None = None) -> None:
    """Keep ``window`` within ``available`` (its screen's area without taskbars and docks by default): a
    default or saved size larger than a small screen (1366 x 768) is cut to it and the window moved onto it,
    so its status bar is on screen. A maximised or full-screen window is left as it is."""
    if window.isMaximized() or window.isFullScreen():
        return
    if available is None:
        screen = window.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        available = screen.availableGeometry()
    handle = window.windowHandle()
    margins = handle.frameMargins() if handle is not None else None
    left, top = (margins.left(), margins.top()) if margins is not None else (0, 0)
    extra_w = left + margins.right() if margins is not None else 0
    extra_h = (top + margins.bottom() if margins is not None else 0) or TITLE_BAR_ALLOWANCE
    inner = window.geometry()
    width = max(min(inner.width(), available.width() - extra_w), 1)
    height = max(min(inner.height(), available.height() - extra_h), 1)
    minimum = window.minimumSize()
    window.setMinimumSize(min(minimum.width(), width), min(minimum.height(), height))
    # where the frame's top-left corner goes: as it is, unless that puts part of the window off the area
    x = max(min(inner.x() - left, available.right() + 1 - width - extra_w), available.left())
    y = max(min(inner.y() - top, available.bottom() + 1 - height - extra_h), available.top())
    fitted = QRect(x + left, y + top, width, height)
    if fitted != inner:
        logger.info("window fitted to the screen's %dx%d: %dx%d", available.width(), available.height(), width, height)
        window.setGeometry(fitted)


def save_geometry(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue(GEOMETRY, window.saveGeometry())
    settings.sync()


def remember_orgs(ctx: AppContext) -> None:
    """Save the current source and target orgs whenever they change."""
    context = weakref.ref(ctx)   # the slot must not keep the context alive

    def save() -> None:
        current = context()
        if current is None:
            return
        for key, alias in ((LAST_SOURCE, current.source), (LAST_TARGET, current.target)):
            if alias:
                current.settings.setValue(key, alias)

    ctx.selection_changed.connect(save)


def restore_orgs(ctx: AppContext) -> None:
    """Pick the orgs of the last session where the open template did not name them: the last source
    (the demo source on a first launch) and the last target, each only while it is still registered."""
    registry = ctx.registry
    if ctx.source is None:
        last = str(ctx.settings.value(LAST_SOURCE) or "")
        for alias in (last, DEMO_SOURCE):
            if alias and alias in registry:
                ctx.set_source(alias)
                break
    last_target = str(ctx.settings.value(LAST_TARGET) or "")
    if ctx.target is None and last_target and last_target in registry and last_target != ctx.source:
        ctx.set_target(last_target)
