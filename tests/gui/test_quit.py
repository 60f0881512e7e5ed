"""Closing the window or quitting (File → Quit, Ctrl+Q) asks about unsaved template edits (Save / Discard /
Cancel) and about a running sync, whichever page is showing."""

from __future__ import annotations

import json

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_main_window, press_start_sync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui

Button = QMessageBox.StandardButton


@pytest.fixture
def edited(sandbox_factory, tmp_path, qtbot):
    """The main window with the template open in the editor and its name changed (not saved)."""
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, _ = open_main_window(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    templates = window.show_page("Templates")
    path = tmp_path / "template.json"
    assert templates.open_path(path)
    templates.editor.name_edit.setText("Renamed but not saved")
    assert templates.editor.dirty
    window.show_page("History")      # the question is asked from any page
    yield ctx, window, templates, path
    if window.isVisible():           # a test that kept the window open: close it without saving
        if not window.close():
            qtbot.mouseClick(window.unsaved_box.button(Button.Discard), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not window.isVisible())


def answer(qtbot, window, button: QMessageBox.StandardButton) -> None:
    box = window.unsaved_box
    assert box is not None and box.isVisible() and box.windowTitle() == "Unsaved changes"
    assert "“Renamed but not saved”" in box.text()
    assert {box.standardButton(b) for b in box.buttons()} == {Button.Save, Button.Discard, Button.Cancel}
    qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)


def saved_name(path) -> str:
    return json.loads(path.read_text())["name"]


def test_cancel_keeps_the_app_open_with_the_edits(edited, qtbot):
    ctx, window, templates, path = edited
    assert not window.close()
    assert window.tabs.currentWidget() is templates          # shows what the question is about
    answer(qtbot, window, Button.Cancel)
    assert window.isVisible() and not ctx.closing and window.unsaved_box is None
    assert templates.editor.dirty and templates.editor.name_edit.text() == "Renamed but not saved"
    assert not window.close()                                 # asked again next time
    answer(qtbot, window, Button.Cancel)
    assert window.isVisible()


def test_discard_closes_without_writing(edited, qtbot):
    ctx, window, templates, path = edited
    before = saved_name(path)
    assert not window.close()
    answer(qtbot, window, Button.Discard)
    assert not window.isVisible() and ctx.closing
    assert saved_name(path) == before != "Renamed but not saved"


def test_save_writes_the_template_then_closes(edited, qtbot):
    ctx, window, templates, path = edited
    assert not window.close()
    answer(qtbot, window, Button.Save)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)   # the filters are checked with the org first
    assert ctx.closing and saved_name(path) == "Renamed but not saved"


def test_a_save_that_fails_keeps_the_app_open(edited, qtbot):
    ctx, window, templates, path = edited
    templates.editor.name_edit.setText("")                    # a template needs a name: Save refuses
    templates.editor.draft.name = ""
    assert not window.close()
    box = window.unsaved_box
    with qtbot.waitSignal(templates.editor.save_refused):
        qtbot.mouseClick(box.button(Button.Save), Qt.MouseButton.LeftButton)
    assert window.isVisible() and not ctx.closing
    assert "Give the template a name" in templates.editor.message
    assert "could not be saved" in window.status_label.text()
    assert templates.editor.dirty
    assert not window.close() and window.unsaved_box is not None   # and the next close asks again
    qtbot.mouseClick(window.unsaved_box.button(Button.Cancel), Qt.MouseButton.LeftButton)


def test_ctrl_q_quits_from_any_page_through_the_same_question(edited, qtbot):
    ctx, window, templates, path = edited
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.menu() is not None and "File" in a.text())
    assert window.quit_action in file_menu.actions()
    history = window.show_page("History")
    history.setFocus()
    qtbot.keyClick(history, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.unsaved_box is not None)
    answer(qtbot, window, Button.Discard)
    assert not window.isVisible() and ctx.closing


def test_quit_during_a_sync_asks_about_the_sync(sandbox_factory, tmp_path, qtbot):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, page = open_main_window(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    server.faults("target").update(latency=0.3)
    press_start_sync(qtbot, page)
    qtbot.waitUntil(lambda: page.job is not None, timeout=30_000)
    window.show_page("Orgs")
    window.quit_action.trigger()
    assert window.quit_box is not None and window.quit_box.windowTitle() == "A sync is running"
    assert window.isVisible()
    qtbot.mouseClick(window.quit_box.button(Button.Yes), Qt.MouseButton.LeftButton)
    assert not window.isVisible() and ctx.closing
