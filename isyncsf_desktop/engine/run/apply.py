"""Apply This Preview: the sync writes the records a preview showed, with the values it showed, and nothing else.

Before: :func:`check_preview` says whether a preview can still be applied (:class:`PreviewCheck`). It is refused
(``refusals``, each a sentence) when it did not complete, was taken between other orgs, was applied already,
ran a template that has changed since, or when either org's metadata for the plan's objects moved (a field
added, a validation rule switched: the preview's :func:`~.fingerprint.fingerprint` against today's). Records whose
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

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..events import Notice
from ..journal import ErrorInfo, JournalError, PreviewRecord, PreviewRow
from ..orgapi import OrgApi
from ..plan import ObjectPlan, Plan
from ..template import Template, TemplateError, parse_template
from .context import EngineError, RunContext
from .fingerprint import fingerprint, metadata_changes
from .preview import NOT_CHOSEN, is_new_id
from .sync_run import Decision, Pending, SyncRun, Verdict

logger = logging.getLogger(__name__)

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


# ------------------------------------------------------------------ the check
METADATA_SHOWN = 5
"""Metadata differences named one by one in a refusal; the rest are counted."""
STAMP_MARGIN = timedelta(minutes=10)
"""How far before the preview the orgs are asked for records changed since: covers a clock of ours that runs
ahead of the org's (the exact comparison with each row's stamp removes what this lets in)."""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _parse_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def _soql_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fresh(org: OrgApi) -> None:
    """Forget the client's cached describes: the metadata is compared as the org has it now."""
    clear = getattr(org, "clear_cache", None)
    if clear is not None:
        clear()


def refusals_of(ctx: RunContext, preview: PreviewRow, current: Template | None) -> list[str]:
    """Why ``preview`` cannot be applied by the engine of ``ctx`` (none: it can), without reading either org."""
    pid = preview.id
    if preview.source.org_id != ctx.source_ref.org_id or preview.target.org_id != ctx.target_ref.org_id:
        return [f"Preview #{pid} was taken from {preview.source.alias} to {preview.target.alias}, not from "
                f"{ctx.source_ref.alias} to {ctx.target_ref.alias}: apply it with those orgs."]
    if preview.status != "Completed":
        return [f"Preview #{pid} ended {preview.status}: only a completed preview can be applied; preview again."]
    if preview.job_id is not None:
        return [f"Preview #{pid} was applied already, as job #{preview.job_id}: preview again to apply what changed "
                "since."]
    if current is not None:
        try:
            then = parse_template(preview.template).as_json()
        except TemplateError:
            then = preview.template
        if then != current.as_json():
            return [f'The template "{preview.template_name}" was changed after preview #{pid}: preview again to '
                    "see what the sync does with it now."]
    if not preview.plan or preview.fingerprint is None:
        return [f"Preview #{pid} kept no record of the orgs' metadata (it was taken by an older version): preview "
                "again."]
    return []


def check_preview(ctx: RunContext, preview_id: int, *, current: Template | None = None) -> PreviewCheck:
    """See :meth:`~.engine.SyncEngine.check_preview`."""
    check = PreviewCheck(preview_id)
    try:
        preview = ctx.journal.preview(preview_id)
    except JournalError:
        check.refusals.append(f"There is no preview #{preview_id} in the journal: `isyncsf previews` lists the "
                              "previews there are.")
        return check
    check.refusals = refusals_of(ctx, preview, current)
    if check.refusals:
        return check
    assert preview.plan is not None and preview.fingerprint is not None
    plan = Plan.from_json(preview.plan)
    for org in (ctx.source, ctx.target):
        _fresh(org)
    changes = metadata_changes(preview.fingerprint, fingerprint(plan, ctx.source, ctx.target))
    if changes:
        shown = [_sentence(c) for c in changes[:METADATA_SHOWN]]
        if len(changes) > METADATA_SHOWN:
            shown.append(f"And {len(changes) - METADATA_SHOWN} more metadata change(s).")
        check.refusals = shown + [f"The orgs' metadata changed since preview #{preview_id}: preview again to see "
                                  "what the sync does now."]
        return check
    check.changed = changed_records(ctx, preview, plan)
    counts = ctx.journal.preview_counts(preview_id)
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for record in check.changed:
        moved[(record.object, record.action)] += 1
    for name in plan.order:
        by_action = counts.get(name, {})
        check.to_write[name] = {a: by_action.get(a, 0) - moved[(name, a)] for a in ("insert", "update")}
    return check


def to_preview_again(ctx: RunContext, preview_id: int) -> dict[str, set[str]]:
    """The records of preview ``preview_id`` to preview again (object -> source ids), for
    :meth:`~.engine.SyncEngine.preview` ``only=``: those that changed since it, or, once it was applied, those
    its job did not write because they had (left out, changed, not in the preview). :class:`EngineError`
    (the sentence) when there is no such preview, or it is of other orgs or did not complete."""
    try:
        preview = ctx.journal.preview(preview_id)
    except JournalError:
        raise EngineError(f"There is no preview #{preview_id} in the journal: `isyncsf previews` lists the previews "
                          "there are.") from None
    refused = [r for r in refusals_of(ctx, preview, None) if preview.job_id is None or "applied already" not in r]
    if refused:
        raise EngineError(refused[0])
    out: dict[str, set[str]] = defaultdict(set)
    if preview.job_id is not None:
        for error in ctx.journal.errors(preview.job_id):
            if error.status_code in (LEFT_OUT, CHANGED_SINCE_PREVIEW, NOT_IN_PREVIEW) and error.source_id:
                out[error.object].add(error.source_id)
        return dict(out)
    assert preview.plan is not None
    for record in changed_records(ctx, preview, Plan.from_json(preview.plan)):
        out[record.object].add(record.source_id)
    return dict(out)


def changed_records(ctx: RunContext, preview: PreviewRow, plan: Plan) -> list[ChangedRecord]:
    """The records the preview would write (insert, update) that moved since on either org: per object and org
    one query (queryAll, so deletions show) for the records whose SystemModstamp is later than the preview
    (less :data:`STAMP_MARGIN`), each then compared with the stamp its row kept."""
    journal = ctx.journal
    created = _parse_stamp(preview.created) or datetime.now(timezone.utc)
    out: list[ChangedRecord] = []
    for name in plan.order:
        rows: dict[str, PreviewRecord] = {}
        by_target: dict[str, str] = {}
        for row in journal.iter_preview_records(preview.id, name, ("insert", "update")):
            rows[row.source_id] = row
            if row.action == "update" and row.target_id:
                by_target[row.target_id] = row.source_id
        if not rows:
            continue
        source = _moved(ctx.source, name, {i: r.source_stamp for i, r in rows.items()}, created)
        target = _moved(ctx.target, name, {t: rows[s].target_stamp for t, s in by_target.items()}, created) \
            if by_target else {}
        target_by_source = {by_target[t]: gone for t, gone in target.items()}
        for source_id, row in rows.items():
            in_source, in_target = source.get(source_id), target_by_source.get(source_id)
            if in_source is None and in_target is None:
                continue
            label = row.label or source_id
            if in_source or in_target:
                where = "gone"
                detail = ("it was deleted from the source org since the preview" if in_source else
                          "its target record was deleted since the preview")
            elif in_source is not None and in_target is not None:
                where, detail = "both", "it was edited in both orgs since the preview"
            elif in_source is not None:
                where, detail = "source", "it was edited in the source org since the preview"
            else:
                where, detail = "target", "its target record was edited since the preview"
            out.append(ChangedRecord(name, source_id, label, row.action, where, detail))
    return out


def _moved(org: OrgApi, name: str, stamps: dict[str, str | None], created: datetime) -> dict[str, bool]:
    """Of the records ``stamps`` names (id -> the SystemModstamp the preview read), those whose stamp is not that
    any more: id -> whether it is deleted. The lower bound is the org's own clock where the rows give it (the
    latest stamp the preview read), else ours, less the margin."""
    read = [t for t in (_parse_stamp(v) for v in stamps.values()) if t is not None]
    since = min([created, *([max(read)] if read else [])]) - STAMP_MARGIN
    moved: dict[str, bool] = {}
    for row in org.query(f"SELECT Id, SystemModstamp, IsDeleted FROM {name} WHERE SystemModstamp > {_soql_time(since)}",
                         include_deleted=True):
        record_id = row.get("Id")
        if record_id in stamps and (row.get("IsDeleted") or row.get("SystemModstamp") != stamps[record_id]):
            moved[record_id] = bool(row.get("IsDeleted"))
    return moved


# ------------------------------------------------------------------ the apply: a sync gated by the preview
def _norm(value: Any) -> Any:
    """A value as the journal keeps it (JSON), so a value read now compares with one the preview stored."""
    return json.loads(json.dumps(value, default=str))


class ApplyRun(SyncRun):
    """The run of a job that applies preview ``preview_id``: every decision is gated against the preview's row
    (see the module's docstring). ``leave_out``: (object, source id) of records not to write."""

    PARALLEL = False    # one object at a time: the preview rows it gates against are the current object's

    def __init__(self, ctx: RunContext, job_id: int, run_id: int, plan: Plan, template: Template, *,
                 skip: set[str] | None, only: set[str] | None, preview_id: int,
                 leave_out: set[tuple[str, str]], chosen: set[str] | None = None):
        super().__init__(ctx, job_id, run_id, plan, template, skip=skip, only=only)
        self.preview_id = preview_id
        self.chosen = chosen      # a preview of chosen records: the others are read and matched only, as it did
        self.leave_out = leave_out
        self.new_ids = self.journal.preview_new_ids(preview_id)   # placeholder -> (object, source id)
        self.held: dict[str, int] = defaultdict(int)              # reason code -> records not written
        self.deferred_held = 0
        self._object: str | None = None
        self._rows: dict[str, PreviewRecord] = {}

    def _row(self, name: str, source_id: str) -> PreviewRecord | None:
        if self._object != name:       # one object's rows at a time, read as its records are decided
            self._object = name
            self._rows = {r.source_id: r for r in self.journal.iter_preview_records(self.preview_id, name)}
        return self._rows.get(source_id)

    def _expected(self, value: Any) -> Any:
        """A value the preview stored, as it is in this run: a placeholder id is the record it stands for, which
        this run inserted (its id now), or nothing yet."""
        if is_new_id(value):
            where = self.new_ids.get(value)
            return self.id_map.get(where[1]) if where is not None else None
        return _norm(value)

    def _same(self, row: PreviewRecord, got: dict[str, tuple[Any, Any]], *, deferred: bool) -> bool:
        want = {c.field: (None if row.action == "insert" else c.now, c.will_be) for c in row.changes
                if c.deferred == deferred}
        if set(want) != set(got):
            return False
        return all(self._expected(want[f][1]) == _norm(got[f][1])
                   and (row.action == "insert" or self._expected(want[f][0]) == _norm(got[f][0])) for f in want)

    def _hold(self, decision: Decision, code: str, message: str) -> Decision:
        self.held[code] += 1
        pending = decision.pending
        matched = pending.target_id is not None and not decision.verdict == Verdict.INSERT
        return Decision(Verdict.HELD, pending, decision.changed, ErrorInfo(code, message, []), matched=matched)

    @staticmethod
    def _now(decision: Decision) -> str:
        """What the run would do with the record now, in a few words."""
        verdict = decision.verdict
        if verdict == Verdict.INSERT:
            return "insert it"
        if verdict == Verdict.UPDATE:
            return f"update {', '.join(sorted(decision.changed))}"
        if verdict in (Verdict.UNCHANGED, Verdict.UPDATE_OFF):
            return "leave it as it is"
        if decision.error is not None:
            return f"not send it: {decision.error.message}"
        return "not send it"

    def decided(self, name: str, oplan: ObjectPlan, decision: Decision) -> Decision | None:
        source_id = decision.pending.source["Id"]
        verdict = decision.verdict
        if self.chosen is not None and source_id not in self.chosen:
            matched = decision.pending.target_id is not None and verdict != Verdict.INSERT
            return Decision(Verdict.OUTSIDE, decision.pending, decision.changed, ErrorInfo(
                NOT_CHOSEN, f"it is not one of the records chosen for preview #{self.preview_id} (preview or apply "
                "it first)"), matched=matched)
        writes = verdict in (Verdict.INSERT, Verdict.UPDATE)
        if (name, source_id) in self.leave_out and writes:
            return self._hold(decision, LEFT_OUT, f"left out of the apply of preview #{self.preview_id}: it changed "
                              "since the preview")
        row = self._row(name, source_id)
        if row is None:
            if writes:
                return self._hold(decision, NOT_IN_PREVIEW, f"not written: preview #{self.preview_id} did not have "
                                  "it (it is new, or came into the template's scope, since); preview again to see it")
            return None
        changed = (f"not written: it changed since preview #{self.preview_id}, which showed "
                   f"{row.action if row.action != 'skip' else 'it not going'}; the sync would now "
                   f"{self._now(decision)}. Preview again to see it")
        if row.action == "unchanged":
            if verdict == Verdict.UPDATE:           # the preview left it as it is: so does the apply
                return Decision(Verdict.UNCHANGED, decision.pending)
            return self._hold(decision, CHANGED_SINCE_PREVIEW, changed) if writes else None
        if row.action == "skip":
            return self._hold(decision, CHANGED_SINCE_PREVIEW, changed) if writes else None
        pending = decision.pending
        if row.action == "insert" and verdict == Verdict.INSERT:
            got = {f: (None, v) for f, v in pending.payload.items()}
            if self._same(row, got, deferred=False):
                return None
        elif row.action == "update" and verdict == Verdict.UPDATE and pending.target_id == row.target_id:
            prior = pending.prior or {}
            got = {f: (prior.get(f), v) for f, v in decision.changed.items()}
            if self._same(row, got, deferred=False):
                return None
        if not writes:       # nothing is written either way: the run's own outcome stands (a parent that failed in
            return None      # this run says so; it is no change since the preview)
        return self._hold(decision, CHANGED_SINCE_PREVIEW, changed)

    def deferred(self, name: str, updates: list[Pending]) -> list[Pending] | None:
        rows = self.journal.preview_rows_of(self.preview_id, name, [p.source["Id"] for p in updates])
        kept: list[Pending] = []
        for item in updates:
            row = rows.get(item.source["Id"])
            prior = item.prior or {}
            if row is not None and (name, row.source_id) not in self.leave_out and self._same(
                    row, {f: (prior.get(f), v) for f, v in item.payload.items()}, deferred=True):
                kept.append(item)
        if len(kept) < len(updates):
            self.deferred_held += len(updates) - len(kept)
            self.notice(f"{len(updates) - len(kept)} {name} record(s): the lookups the second pass sets differ from "
                        f"preview #{self.preview_id}, and were left as they are")
        return kept

    def summary(self) -> str | None:
        inserted = sum(oc.inserted for oc in self.counts.values())
        updated = sum(oc.updated for oc in self.counts.values())
        changed = self.held[CHANGED_SINCE_PREVIEW] + self.held[LEFT_OUT]
        text = (f"Applied preview #{self.preview_id}: {inserted:,} inserted, {updated:,} updated; {changed:,} changed "
                "since the preview left out")
        if self.held[NOT_IN_PREVIEW]:
            text += f"; {self.held[NOT_IN_PREVIEW]:,} not in the preview left out"
        text += "."
        self.ctx.emit(Notice, text=text, level="info")
        return text


__all__ = ["ApplyRun", "CHANGED_SINCE_PREVIEW", "ChangedRecord", "LEFT_OUT", "NOT_IN_PREVIEW", "PreviewCheck",
           "PreviewRefused", "changed_records", "check_preview", "refusals_of", "to_preview_again"]
