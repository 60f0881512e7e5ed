"""Apply This Preview: the sync writes the records a preview showed, with the values it showed, and nothing else.

Before: :func:`check_preview` says whether a preview can still be applied (:class:`PreviewCheck`). It is refused
(``refusals``, each a sentence) when it did not complete, was taken between other orgs, was applied already,
ran a template that has changed since, or when either org's metadata for the plan's objects moved (a field
added, a validation rule switched: the preview's :func:`fingerprint` against today's). Records whose
SystemModstamp moved since the preview on the source or the target, or that are gone, are ``changed``: the
user leaves them out or previews them again; they are never written blind.

The apply is a new sync job of the preview's template (so History, rollback and retry work as for any job)
whose run is an :class:`ApplyRun`: every decision the planner takes is gated against the preview's row
(:meth:`ApplyRun.decided`, :meth:`ApplyRun.deferred`). A record is written only where the preview said
insert or update and the decision now is the same, with the same values; a record left out, one whose
decision differs (it changed after the check), or one the preview did not have, is journaled as skipped
with the reason (:data:`LEFT_OUT`, :data:`CHANGED_SINCE_PREVIEW`, :data:`NOT_IN_PREVIEW`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..events import RunResult
from ..template import Template
from .context import EngineError, RunContext

if TYPE_CHECKING:
    from .engine import SyncEngine

CHANGED_SINCE_PREVIEW = "CHANGED_SINCE_PREVIEW"
"""A record whose decision now differs from the preview's (it changed after the preview): not written."""
LEFT_OUT = "LEFT_OUT"
"""A record the user left out of the apply (it changed since the preview): not written."""
NOT_IN_PREVIEW = "NOT_IN_PREVIEW"
"""A record the preview did not have (new in the source since): not written."""


@dataclass
class ChangedRecord:
    """A record of a preview that changed after it: ``where`` it changed (``source``, ``target``, ``both``, or
    ``gone``: deleted from the source, or its target record deleted), and ``detail``, a sentence for the user.
    ``action``: what the preview said (``insert`` or ``update``)."""

    object: str
    source_id: str
    label: str
    action: str
    where: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"object": self.object, "source_id": self.source_id, "label": self.label, "action": self.action,
                "where": self.where, "detail": self.detail}


@dataclass
class PreviewCheck:
    """Whether preview ``preview_id`` can be applied now: ``refusals`` (sentences: why not, what to do),
    ``changed`` (records that moved since the preview), ``to_write`` (per object ``{"insert": n, "update": n}``:
    what an apply that leaves the changed records out writes)."""

    preview_id: int
    refusals: list[str] = field(default_factory=list)
    changed: list[ChangedRecord] = field(default_factory=list)
    to_write: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No refusal: the preview can be applied (changed records are left out, or previewed again)."""
        return not self.refusals

    def as_json(self) -> dict[str, object]:
        return {"preview_id": self.preview_id, "ok": self.ok, "refusals": list(self.refusals),
                "changed": [c.as_json() for c in self.changed], "to_write": self.to_write}


class PreviewRefused(EngineError):
    """The preview cannot be applied: ``reasons``, each a sentence saying why and what to do."""

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = list(reasons)


def check_preview(ctx: RunContext, preview_id: int, *, current: Template | None = None) -> PreviewCheck:
    """See :meth:`~.engine.SyncEngine.check_preview`."""
    raise NotImplementedError


def apply_preview(engine: SyncEngine, preview_id: int, *, leave_out: Iterable[tuple[str, str]] = (),
                  current: Template | None = None, on_job: Callable[[int], None] | None = None) -> RunResult:
    """See :meth:`~.engine.SyncEngine.apply_preview`."""
    raise NotImplementedError


__all__ = ["CHANGED_SINCE_PREVIEW", "ChangedRecord", "LEFT_OUT", "NOT_IN_PREVIEW", "PreviewCheck", "PreviewRefused"]
