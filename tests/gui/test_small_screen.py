"""A small screen (1366 x 768 with a taskbar: 1366 x 728 available): the window fits, its status bar shows,
the template editor keeps five rows of its Objects list and wraps its hints, the Orgs page's API usage bar
is whole."""

from __future__ import annotations

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_main_window
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QGuiApplication

from isyncsf_desktop.gui.window_state import fit_to_screen

pytestmark = pytest.mark.gui

SMALL = QRect(0, 0, 1366, 728)


def inside(window, widget) -> bool:
    """``widget`` is shown and wholly within the window's client area."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


@pytest.fixture
def small(sandbox_factory, tmp_path, qtbot):
    from PySide6.QtWidgets import QApplication

    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())   # the app's own style sheet: its sizes are what a user sees
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, _ = open_main_window(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    window.resize(1600, 1000)           # a size saved on a bigger screen
    fit_to_screen(window, SMALL)
    qtbot.waitUntil(lambda: window.width() <= 1366 and window.height() <= 728)
    yield ctx, window, tmp_path
    ctx.pool.waitForDone()
    window.close()


def test_the_first_window_fits_the_screen_it_opens_on(sandbox_factory, tmp_path, qtbot):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, _ = open_main_window(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    available = QGuiApplication.primaryScreen().availableGeometry()
    qtbot.waitUntil(lambda: available.contains(window.frameGeometry()))   # the default 1280 x 820 is cut to it
    assert inside(window, window.statusBar())
    window.close()


def test_a_window_larger_than_a_small_screen_is_cut_to_it(small):
    ctx, window, _ = small
    assert SMALL.contains(window.frameGeometry())
    assert inside(window, window.statusBar()) and inside(window, window.status_label)


def test_the_template_editor_keeps_five_objects_and_wraps_its_hints(small, qtbot):
    ctx, window, tmp_path = small
    templates = window.show_page("Templates")
    assert templates.open_path(tmp_path / "template.json")
    editor = templates.editor
    qtbot.waitUntil(lambda: editor.lines_view.isVisible() and editor.lines_model.rowCount() > 0)
    view = editor.lines_view
    assert inside(window, view)
    assert view.viewport().height() >= 5 * view.rowHeight(0)
    area = editor.settings_area
    assert inside(window, area) and area.horizontalScrollBar().maximum() == 0
    hint = editor.versioning_hint                       # shown: the demo template keeps versions
    assert hint.isVisible() and hint.wordWrap()
    qtbot.waitUntil(lambda: hint.mapTo(area.viewport(), QPoint(hint.width(), 0)).x() <= area.viewport().width())
    assert hint.height() >= hint.heightForWidth(hint.width())               # every wrapped line has room


def test_the_orgs_page_shows_the_whole_api_usage_bar(small, qtbot):
    ctx, window, _ = small
    orgs = window.show_page("Orgs")
    assert orgs.select_alias("source")
    orgs.test_button.click()
    qtbot.waitUntil(lambda: orgs.details_form_widget.isVisible() and orgs.api_label.text() != "", timeout=30_000)
    # once the layout has settled (it lays out after the text arrives): not clipped by its box, inside the window
    qtbot.waitUntil(lambda: orgs.api_bar.visibleRegion().boundingRect() == orgs.api_bar.rect(), timeout=10_000)
    assert inside(window, orgs.api_bar) and inside(window, orgs.api_label)
