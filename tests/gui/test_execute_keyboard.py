"""The Execute tab from the keyboard alone, in the main window as it launches: the focus starts at the top
of the tab, Tab walks every control in reading order and never gets trapped in a table, the focused
control shows a ring, and Enter or Space presses the focused button (Start Sync included)."""

from __future__ import annotations

import pytest
from gui_helpers import register_orgs
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractItemView, QApplication, QPushButton, QTabBar, QWidget

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.main_window import MainWindow
from isyncsf_desktop.gui.style import apply_style

RUN_TIMEOUT = 180_000


@pytest.fixture
def launched(sandbox_factory, tmp_path, qtbot):
    """The main window launched as a returning user has it: the demo orgs known, the last target remembered;
    ``start()`` opens the demo template and the plan is ready. The app's style is on, as in the app."""
    apply_style(QApplication.instance())
    server = sandbox_factory({"demo-source": "demo-source", "demo-target": "demo-target"})
    ctx = AppContext(registry=register_orgs(server, ("demo-source", "demo-target")),
                     journal=Journal(tmp_path / "journal.sqlite3"))
    ctx.settings.setValue("orgs/last_target", "demo-target")
    window = MainWindow(ctx, start_sandbox=False)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    page = window.pages["Execute"]
    with qtbot.waitSignal(page.plan_ready, timeout=60_000):
        window.start()
    qtbot.waitUntil(page.start_button.isEnabled, timeout=30_000)
    yield ctx, window, page
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=RUN_TIMEOUT)
    ctx.shutdown()


def focused() -> QWidget | None:
    return QApplication.focusWidget()


def press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> QWidget | None:
    """Press ``key`` where the keyboard focus is, as a user does; returns where the focus is then."""
    widget = focused()
    assert widget is not None, "nothing has the keyboard focus"
    qtbot.keyClick(widget, key, modifier)
    return focused()


def reactivate(qtbot, window: QWidget) -> None:
    """Make ``window`` active again after a dialog closed, as the window manager does (offscreen does not)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def tab_to(qtbot, target: QWidget, limit: int = 40) -> list[QWidget]:
    """Press Tab until ``target`` has the focus; the widgets passed on the way (fails after ``limit``)."""
    passed = []
    while focused() is not target:
        assert len(passed) < limit, f"Tab never reached {target!r}; passed {passed}"
        passed.append(press(qtbot, Qt.Key.Key_Tab))
    return passed


def test_tab_from_launch_reaches_start_sync_and_the_keyboard_starts_the_sync(launched, qtbot):
    ctx, window, page = launched
    assert focused() is page.select_target_button              # the top of the Execute tab, not a table
    passed = tab_to(qtbot, page.start_button, limit=5)
    assert passed == [page.check_button, page.start_button]     # reading order
    assert press(qtbot, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier) is page.check_button
    assert press(qtbot, Qt.Key.Key_Tab) is page.start_button

    # Space presses Start Sync; the first sync shows the metadata check; Tab to its Start Sync, Enter.
    qtbot.keyClick(page.start_button, Qt.Key.Key_Space)
    dialog = page.preflight_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
    qtbot.waitUntil(lambda: focused() is not None and focused().window() is dialog, timeout=10_000)
    tab_to(qtbot, dialog.start_button)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        press(qtbot, Qt.Key.Key_Return)
    assert finished.args[0].state == "Synced"
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)

    # Enter presses a focused button of the window too: Start Sync again (the pair has a job: no check).
    reactivate(qtbot, window)
    page.start_button.setFocus(Qt.FocusReason.TabFocusReason)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT):
        press(qtbot, Qt.Key.Key_Enter)
        assert page.preflight_dialog is None and page.is_running()


def test_every_control_is_reached_by_tab_and_no_table_traps_the_focus(launched, qtbot):
    ctx, window, page = launched
    visited: list[QWidget] = []
    for _ in range(80):                                         # once round the whole window
        visited.append(press(qtbot, Qt.Key.Key_Tab))
        if visited[-1] is page.select_target_button:
            break
    assert visited[-1] is page.select_target_button, "Tab did not come round to the first control"
    buttons = [b for b in page.findChildren(QPushButton) if b.isVisible() and b.isEnabled()]
    assert buttons and all(button in visited for button in buttons), \
        [b.text() for b in buttons if b not in visited]
    assert page.order_view in visited and any(isinstance(w, QTabBar) for w in visited)
    # Inside the migration-order table Tab, Shift+Tab and Ctrl+Tab leave it (the arrows move within it).
    page.order_view.setFocus(Qt.FocusReason.TabFocusReason)
    assert press(qtbot, Qt.Key.Key_Tab) is not page.order_view
    page.order_view.setFocus(Qt.FocusReason.TabFocusReason)
    assert press(qtbot, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier) is not page.order_view
    page.order_view.setFocus(Qt.FocusReason.TabFocusReason)
    tab = page.run_tabs.currentIndex()
    press(qtbot, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert page.run_tabs.currentIndex() != tab                   # Ctrl+Tab: the next tab of Sync Settings' row
    assert isinstance(page.order_view, QAbstractItemView) and not page.order_view.tabKeyNavigation()


def grab(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def test_the_focused_control_shows_a_ring(launched, qtbot):
    ctx, window, page = launched
    for widget in (page.check_button, page.start_button, page.rollback_button, page.order_view):
        if not widget.isEnabled():
            continue
        page.select_target_button.setFocus(Qt.FocusReason.TabFocusReason)
        plain = grab(widget)
        widget.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(widget.hasFocus)
        ringed = grab(widget)
        assert ringed != plain, f"{widget!r} looks the same with and without the focus"
        edge = min((ringed.pixelColor(x, ringed.height() // 2) for x in range(3)), key=lambda c: c.lightness())
        assert edge.blue() > edge.red() and edge.lightness() < 90, edge.name()   # the left edge: a dark blue ring


def test_enter_return_and_space_press_the_focused_button(launched, qtbot):
    ctx, window, page = launched
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
        page.check_button.setFocus(Qt.FocusReason.TabFocusReason)
        press(qtbot, key)
        dialog = page.preflight_dialog
        assert dialog is not None and dialog.isVisible(), f"{key!r} did not press Check Metadata Mismatch"
        qtbot.waitUntil(lambda d=dialog: d.report() is not None and not d.busy(), timeout=60_000)
        for item in dialog.automation_items():          # nothing to save: Close closes
            dialog.set_ticked(item.name, False)
        dialog.buttons.button(dialog.buttons.StandardButton.Close).click()
        assert page.preflight_dialog is None
        reactivate(qtbot, window)
