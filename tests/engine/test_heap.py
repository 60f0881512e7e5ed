"""A run keeps Python's collector off the records it holds (gc.freeze after each journaled batch) and
hands everything back when it ends, however it ends; short-lived cycles are still collected."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import related_data as data

from isyncsf_desktop.engine import heap
from isyncsf_desktop.engine.events import BatchDone


class Node:
    def __init__(self) -> None:
        self.me = self       # a reference cycle: only the collector frees it


@pytest.fixture(autouse=True)
def thawed() -> Any:
    assert gc.get_freeze_count() == 0 and heap.running() == 0, "an earlier run left the heap frozen"
    yield
    gc.unfreeze()


def test_a_sync_freezes_what_it_holds_while_it_runs_and_unfreezes_at_the_end(pair: Any) -> None:
    data.seed(pair.source, pair.target, 30)
    frozen: list[int] = []
    engine = pair.engine(observer=lambda e: frozen.append(gc.get_freeze_count()) if isinstance(e, BatchDone) else None)
    result = engine.sync(engine.create_job(data.template(batch_size=10)))
    assert result.state == "Synced" and len(frozen) > 3
    assert all(count > 0 for count in frozen)          # each batch journaled: the heap frozen
    assert gc.get_freeze_count() == 0 and heap.running() == 0
    rolled = engine.rollback(result.job_id)
    assert rolled.state == "Rollback Completed" and gc.get_freeze_count() == 0


def test_a_run_that_dies_hands_the_heap_back_too() -> None:
    with pytest.raises(RuntimeError), heap.run_heap():
        heap.settle()
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0 and heap.running() == 0


def test_only_the_last_of_two_runs_unfreezes() -> None:
    with heap.run_heap():
        with heap.run_heap():
            heap.settle()
        assert gc.get_freeze_count() > 0 and heap.running() == 1     # the other run still holds its records
    assert gc.get_freeze_count() == 0


def test_settle_collects_young_cycles_before_freezing_and_does_nothing_outside_a_run() -> None:
    heap.settle()
    assert gc.get_freeze_count() == 0                                  # no run: nothing frozen
    with heap.run_heap():
        garbage = weakref.ref(Node())
        heap.settle()
        assert garbage() is None                                        # collected, not frozen for the run
        kept = Node()
        heap.settle()
        walked = [g for g in range(3) if any(obj is kept for obj in gc.get_objects(g))]
        assert walked == [] and gc.get_freeze_count() > 0               # alive, and no collection walks it
    assert any(obj is kept for obj in gc.get_objects(2))                # handed back to the oldest generation


def test_no_full_collection_of_its_own_while_a_run_is_on_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), heap.run_heap():
        with heap.run_heap():
            assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] == heap.NO_FULL_COLLECTION
        assert gc.get_threshold()[2] == heap.NO_FULL_COLLECTION          # the other run is still on
        full = gc.get_stats()[2]["collections"]
        for _ in range(200_000):
            Node()                                                        # young cycles: collected young
        assert gc.get_stats()[2]["collections"] == full                  # and no full collection ran
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == before and heap.running() == 0


def test_the_allocator_is_tuned_on_glibc_and_left_alone_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    heap.trim()                                   # on this machine's C library, whatever it is: no error
    monkeypatch.setattr(heap, "_libc", None)
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap._glibc() is None                  # off Linux: no C library looked for, nothing tuned
    heap.trim()
    with heap.run_heap():
        pass
