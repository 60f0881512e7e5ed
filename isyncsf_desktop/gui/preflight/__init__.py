"""Check Metadata Mismatch: the pre-flight dialog, and the start-up offer to restore automation a crashed run
left switched off."""

from .dialog import PreflightDialog
from .restore import offer_pending_restores

__all__ = ["PreflightDialog", "offer_pending_restores"]
