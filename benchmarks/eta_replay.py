"""Benchmark: the time left a recorded run would have shown, replayed through ``engine.eta``.

``sync_bench.py --record-events FILE`` writes a run's engine events, one JSON line each (the first line: the
records each object was planned to process). This script feeds them to :class:`engine.eta.Eta` as the Execute
tab and the CLI do and prints, at 25%, 50% and 75% of the run (of its duration from its first object reached,
as ``sync_bench.py`` reports it), the time left it would have shown (the last figure, counted down) beside the
time the run really still took, and the error; ``mean_abs_pct`` is the mean of the errors' sizes at every
twentieth of the run (5% to 95%), a figure for the whole run rather than three points.

The estimator is the one imported: run it with ``PYTHONPATH`` set to another tree to compare two versions on
the same events. ``--prior FILE``: replay FILE first as the template's last sync to the same target (what it
measured, :meth:`Eta.measured`, is the new run's prior, :meth:`Eta.use_prior`, as the journal keeps it between
two syncs), where the estimator has that.

Run: ``python benchmarks/eta_replay.py events.jsonl [more.jsonl ...] [--prior earlier.jsonl] [--json]``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MILESTONES = (25, 50, 75)


def load(path: Path) -> tuple[dict[str, int], list[Any]]:
    """The planned counts and the events of one recording."""
    from isyncsf_desktop.engine import events as ev
    from isyncsf_desktop.engine.journal import ObjectCounts

    planned: dict[str, int] = {}
    out: list[Any] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "planned" in row:
            planned = row["planned"]
            continue
        kind = getattr(ev, row.pop("event"), None)
        if kind is None:        # an event the imported version does not know (an older tree's, replayed to compare)
            continue
        for key in ("counts", "totals"):
            if isinstance(row.get(key), dict):
                row[key] = ObjectCounts(**row[key])
        if isinstance(row.get("objects"), dict):     # RunPlanned: each object's shape
            row["objects"] = {name: ev.ObjectShape(**{**shape, "after": tuple(shape.get("after", ()))})
                              for name, shape in row["objects"].items()}
        if isinstance(row.get("fields"), list):
            row["fields"] = tuple(row["fields"])
        out.append(kind(**row))
    return planned, out


def replay(planned: dict[str, int], events: list[Any], prior: Any = None) -> list[tuple[float, float | None]]:
    """(event time, time left said then) after each event, as ``sync_bench.EtaProbe`` keeps them."""
    from isyncsf_desktop.engine.eta import Eta

    eta = Eta(planned)
    if prior is not None:
        eta.use_prior(prior)
    said = []
    for event in events:
        eta.observe(event)
        said.append((event.elapsed, eta.remaining().total))
    return said


def measured(planned: dict[str, int], events: list[Any]) -> Any:
    """What an earlier run measured, as a prior for the next (None where the estimator keeps none)."""
    from isyncsf_desktop.engine.eta import Eta

    eta = Eta(planned)
    if not hasattr(eta, "measured"):
        return None
    for event in events:
        eta.observe(event)
    return eta.measured()


def shown_at(said: list[tuple[float, float | None]], moment: float) -> float | None:
    before = [(at, left) for at, left in said if at <= moment]
    if not before or before[-1][1] is None:
        return None
    at, left = before[-1]
    return max(0.0, left - (moment - at))


def errors(events: list[Any], said: list[tuple[float, float | None]]) -> dict[str, Any]:
    from isyncsf_desktop.engine.events import ObjectReading, ObjectStarted

    start = next(e.elapsed for e in events if isinstance(e, (ObjectReading, ObjectStarted)))
    last = max(e.elapsed for e in events)

    def at(mark: float) -> tuple[float | None, float]:
        moment = start + (last - start) * mark / 100
        return shown_at(said, moment), last - moment

    out: dict[str, Any] = {"seconds": round(last - start, 1)}
    for mark in MILESTONES:
        shown, actual = at(mark)
        out[f"{mark}%"] = {"shown": None if shown is None else round(shown, 1), "actual": round(actual, 1),
                           "error_pct": None if shown is None else round((shown - actual) * 100 / actual)}
    sizes = []
    for mark in range(5, 100, 5):
        shown, actual = at(mark)
        if shown is not None and actual:
            sizes.append(abs(shown - actual) / actual)
    out["mean_abs_pct"] = round(100 * sum(sizes) / len(sizes)) if sizes else None
    out["figures"] = len(sizes)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", nargs="+", help="files written by sync_bench.py --record-events")
    parser.add_argument("--prior", help="a recording of an earlier run of the same job to the same target")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    prior = measured(*load(Path(args.prior))) if args.prior else None
    report = {}
    for name in args.recordings:
        planned, events = load(Path(name))
        report[name] = errors(events, replay(planned, events, prior))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, figures in report.items():
            marks = "  ".join(f"{mark}%: {figures[f'{mark}%']['error_pct']}%" for mark in MILESTONES)
            print(f"{Path(name).name}: {figures['seconds']} s  {marks}  mean |error| {figures['mean_abs_pct']}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
