"""What the app remembers between launches, in its QSettings file (never a secret): the window's
size, place and maximised state, and the last source and target orgs (the last template is kept by
:meth:`AppContext.open_template`)."""

from __future__ import annotations

import logging
import weakref

from PySide6.QtCore import QByteArray, QSettings
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
