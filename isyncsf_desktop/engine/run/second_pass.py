"""The second pass of a sync, resync or retry: set the lookups the first pass left empty (those the plan
defers, because their parent comes later in the order, and self-lookups of records in a data cycle) on
every record that reached the target, including those an earlier run of the job carried over.
"""

from __future__ import annotations

from typing import Any

from ..inflight import send_batches
from ..journal import Outcome
from ..lifecycle import RecordStatus
from ..values import same
from .context import BULK_BATCH, chunks, first_error
from .sync_run import OMIT, Pending, RecordProblem, SyncRun

PHASE = "deferred"


class SecondPass:
    """The second pass of ``run`` (after its :class:`~.first_pass.FirstPass`)."""

    def __init__(self, run: SyncRun):
        self.run = run
        self.ctx = run.ctx
        self.journal = run.journal

    def execute(self) -> None:
        """Every object of the plan that has deferred lookups or self-lookups, in order."""
        run = self.run
        for name in run.plan.order:
            oplan = run.plan.objects[name]
            refs = [r for r in oplan.refs.values() if r.deferred or r.self_ref]
            if not refs:
                continue
            updates: list[Pending] = []
            outcomes: list[Outcome] = []
            targets = run.live_targets.get(name, {})
            for ref in refs:
                if ref.deferred:
                    run.find_parents(ref, [p.source for p in run.synced.get(name, [])], set(run.counts))
            for item in run.synced.get(name, []):
                record = item.source
                carried = record["Id"] in run.carried
                fields = [r for r in refs if r.deferred or record.get("__cycle__") or carried]
                if not fields:
                    continue
                payload: dict[str, Any] = {}
                try:
                    for ref in fields:
                        if ref.field not in oplan.update_fields:
                            continue
                        value = record.get(ref.field)
                        if value is None:
                            continue
                        payload[ref.field] = run.resolve(oplan, ref, record, value)
                except RecordProblem as problem:
                    outcomes.append(run.fail(name, record["Id"], item.target_id, problem.error, PHASE,
                                             problem.root))
                    continue
                payload = {k: v for k, v in payload.items() if v is not OMIT}
                current = targets.get(item.target_id or "", {})
                changed = {f: v for f, v in payload.items()
                           if not same(v, current.get(f), oplan.field_types.get(f, "reference"))}
                if changed and item.target_id:
                    updates.append(Pending(record, item.target_id, changed, {f: current.get(f) for f in changed}))
            if outcomes:
                run.flush(name, outcomes)
            if updates:
                kept = run.deferred(name, updates)
                updates = updates if kept is None else kept
            inserted_now = {o.target_id for o in self.journal.records(run.job_id, name, [RecordStatus.INSERTED])} \
                if updates and run.template.versioning else set()
            self._updates(name, updates, targets, inserted_now)

    def _updates(self, name: str, updates: list[Pending], targets: dict[str, dict[str, Any]],
                 inserted_now: set[str | None]) -> None:
        run = self.run
        bulk = self.ctx.use_bulk(run.template, name, len(updates))

        def prepare(chunk: list[Pending]) -> None:
            self.ctx.check_cancel()
            if run.template.versioning:   # records this job inserted have nothing to restore
                self.journal.save_versions(run.job_id, run.run_id, name, {
                    p.target_id: p.prior or {} for p in chunk if p.target_id and p.target_id not in inserted_now})

        def send(chunk: list[Pending]) -> list[dict[str, Any]]:
            return self.ctx.update_records(run.job_id, run.template, name,
                                           [{"Id": p.target_id, **p.payload} for p in chunk])

        def finish(chunk: list[Pending], results: list[dict[str, Any]]) -> None:
            fails = []
            for item, result in zip(chunk, results):
                if result.get("success") and item.target_id is not None:
                    targets[item.target_id] = {**targets.get(item.target_id, {}), **item.payload}
                else:
                    fails.append(run.fail(name, item.source["Id"], item.target_id, first_error(result), PHASE))
            run.flush(name, fails)

        send_batches(chunks(updates, BULK_BATCH if bulk else run.batch), depth=run.depth,
                     prepare=prepare, send=send, finish=finish)


__all__ = ["SecondPass"]
