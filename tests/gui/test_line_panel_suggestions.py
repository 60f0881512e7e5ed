"""The template editor's "Suggest related objects" list: a suggestion linked by several lookups (Account's parent
Contact, via Primary_Contact__c and PersonContactId in an org with Person Accounts) wraps its text, so its Add
button stays in view in a narrow panel (on a 1366 x 768 screen it was clipped behind a horizontal scroll bar)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint

from isyncsf_desktop.gui.templates.catalog import Suggestion
from isyncsf_desktop.gui.templates.line_panel import LinePanel

pytestmark = pytest.mark.gui


def test_a_long_via_list_wraps_and_the_add_button_stays_in_view(qtbot: Any) -> None:
    panel = LinePanel()
    qtbot.addWidget(panel)
    panel._set_suggestion_rows([
        Suggestion("Contact", "Contact", "parent", ["Primary_Contact__c", "PersonContactId"]),
        Suggestion("Case", "Case", "child", ["AccountId"]),
        Suggestion("Opportunity_Line_Item_Schedule__c", "Schedule", "child", ["Account_Reference_Lookup__c"])])
    panel.related_area.setFixedWidth(290)                 # the column's width at 1366 x 768
    panel.show()
    qtbot.waitExposed(panel)
    area = panel.related_area
    area.widget().layout().activate()
    assert not area.horizontalScrollBar().isVisible()
    viewport = area.viewport()
    for name, button in panel.suggestion_buttons.items():
        right = button.mapTo(viewport, QPoint(button.width(), 0)).x()
        assert 0 < right <= viewport.width(), f"the Add button of {name} is cut off ({right} > {viewport.width()})"
