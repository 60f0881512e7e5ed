"""The History tab: past jobs of the current template, their summary and errors, rollback and delete."""

from .page import HistoryPage

__all__ = ["HistoryPage"]
