"""Guard against a Qt binding that corrupts Python's reference counts.

PySide6 6.12.0 on Python 3.11 drops one reference to ``None`` on every call that returns None;
a session then aborts with "Fatal Python error: none_dealloc" after a few minutes. pyproject.toml
pins PySide6 below 6.12 for that reason; this test fails if such a build is ever installed.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_calls_keep_none_alive(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
    assert sys.getrefcount(None) - before > -100
