"""The sync engine: scan, sync, re-sync, retry failed records, roll back. Synchronous, cancellable.

The engine lives in :mod:`.run` (one module per job of work); this module keeps the names other layers
and scripts import from ``engine.runner``.
"""

from __future__ import annotations

from .orgapi import OrgApi
from .run.context import (BULK_BATCH, DUPLICATE_MATCH, NOT_STARTED, PARENT_FAILED, PARENT_NOT_SYNCED,
                          RECORD_TYPE_NOT_FOUND, STOPPED, SUCCESS, EngineError, TargetBusyError, key_json)
from .run.apply import CHANGED_SINCE_PREVIEW, LEFT_OUT, NOT_IN_PREVIEW, ChangedRecord, PreviewCheck, PreviewRefused
from .run.engine import SyncEngine
from .run.recovery import claim_in_flight, target_key

__all__ = ["BULK_BATCH", "CHANGED_SINCE_PREVIEW", "ChangedRecord", "DUPLICATE_MATCH", "LEFT_OUT", "NOT_IN_PREVIEW",
           "PreviewCheck", "PreviewRefused", "EngineError", "NOT_STARTED", "OrgApi", "PARENT_FAILED",
           "PARENT_NOT_SYNCED", "RECORD_TYPE_NOT_FOUND", "STOPPED", "SUCCESS", "SyncEngine", "TargetBusyError",
           "claim_in_flight", "key_json", "target_key"]
