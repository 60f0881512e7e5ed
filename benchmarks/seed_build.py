"""Benchmark: how long building each demo seed takes (the first launch waits for it).

Prints seconds per seed (minimum, median and maximum of a few builds). Run:
``python benchmarks/seed_build.py [repeats]``. Nothing is asserted: figures to compare between changes.
"""

from __future__ import annotations

import statistics
import sys
import time

from isyncsf_desktop.sandbox.seeds import SEED_NAMES, build_seed


def main(argv: list[str]) -> int:
    repeats = int(argv[0]) if argv else 3
    print(f"{'seed':<16} {'records':>8} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name in SEED_NAMES:
        times = []
        records = 0
        for _ in range(repeats):
            started = time.perf_counter()
            seed = build_seed(name)
            times.append(time.perf_counter() - started)
            records = len(seed.records)
        print(f"{name:<16} {records:>8} {min(times):>7.3f} {statistics.median(times):>9.3f} {max(times):>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
