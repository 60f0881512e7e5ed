"""The Templates tab: list, create and edit the templates a sync runs."""

from .page import TemplatesPage

__all__ = ["TemplatesPage"]
