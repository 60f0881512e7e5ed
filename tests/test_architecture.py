"""The rules of the design, checked on every test run: import-linter's contracts, no import cycle, and
mypy's errors held to a baseline that may only shrink.

mypy baseline: ``tests/mypy_baseline.txt`` lists the errors ``python -m mypy isyncsf_desktop`` reports
today (with ``[tool.mypy]`` of pyproject.toml), one ``path: [error-code] message`` per line, without line
numbers so that unrelated edits do not touch it, compared as a multiset. A new error fails the test; so
does an error of the baseline that is gone, so the file can only shrink. After fixing errors (or, when a
new one is deliberate, after saying why next to it) rewrite the baseline with::

    .venv/bin/python tests/test_architecture.py --update-mypy-baseline
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "isyncsf_desktop"
MYPY_BASELINE = ROOT / "tests" / "mypy_baseline.txt"
UPDATE_BASELINE = "python tests/test_architecture.py --update-mypy-baseline"

_MYPY_ERROR = re.compile(r"^(?P<path>[^:\n]+\.pyi?):\d+(?::\d+)?: error: (?P<message>.*?)"
                         r"(?:  \[(?P<code>[a-z0-9-]+)\])?$")
_MYPY_SUMMARY = re.compile(r"^(?:Found (?P<count>\d+) errors? in \d+ files?|Success: no issues found)")


# ====================================================================== import-linter
def test_import_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken" in done.stdout, done.stdout


# ====================================================================== import cycles
def _import_line(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    if not details:
        return f"{importer} -> {imported}"
    first = details[0]
    return f"{importer} -> {imported}  (line {first['line_number']}: {first['line_contents'].strip()})"


def find_import_cycles(graph: grimp.ImportGraph) -> list[tuple[list[str], list[str]]]:
    """The groups of modules of ``graph`` (a grimp graph) that import each other, directly or through
    others (its strongly connected components), each with one of its shortest cycles ``[a, b, ..., a]``.

    Imports inside functions and under ``TYPE_CHECKING`` count: a cycle that only shows there is still
    two modules that need each other."""
    modules = sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + "."))
    shortest: dict[str, list[str]] = {}        # module -> a shortest cycle through it
    for module in modules:
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported == module or not graph.chain_exists(importer=imported, imported=module):
                continue
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain is not None and (module not in shortest or len(chain) + 1 < len(shortest[module])):
                shortest[module] = [module, *chain]
    groups: list[list[str]] = []
    for module in shortest:
        group = next((g for g in groups if graph.chain_exists(importer=module, imported=g[0])
                      and graph.chain_exists(importer=g[0], imported=module)), None)
        if group is None:
            groups.append([module])
        else:
            group.append(module)
    return [(group, min((shortest[m] for m in group), key=lambda cycle: (len(cycle), cycle))) for group in groups]


def test_no_import_cycles():
    """No module of the package imports, directly or through others, a module that imports it back.

    Break a cycle by moving what both need into a module below them (or by passing it in), never by
    moving an import into a function: that hides the cycle from a reader, not from this test."""
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    groups = find_import_cycles(graph)
    report = []
    for members, cycle in groups:
        report.append(f"{len(members)} modules import each other: {', '.join(members)}")
        report.append(f"  shortest cycle: {' -> '.join(cycle)}")
        report.extend(f"    {_import_line(graph, a, b)}" for a, b in zip(cycle, cycle[1:]))
    assert not groups, f"{len(groups)} import cycle(s):\n" + "\n".join(report)


# ====================================================================== mypy
def mypy_errors() -> list[str]:
    """mypy's errors on the package, as ``path: [error-code] message`` lines (no line numbers), sorted."""
    done = subprocess.run([sys.executable, "-m", "mypy", PACKAGE], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"mypy did not run (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    errors: list[str] = []
    summary = None
    for line in done.stdout.splitlines():
        found = _MYPY_ERROR.match(line)
        if found:
            path = found["path"].replace("\\", "/")
            message = re.sub(r"\bline \d+", "line N", found["message"])   # "already defined on line 12"
            errors.append(f"{path}: [{found['code'] or 'no-code'}] {message}")
        elif _MYPY_SUMMARY.match(line):
            summary = _MYPY_SUMMARY.match(line)
    if summary is None or int(summary["count"] or 0) != len(errors):
        raise RuntimeError(f"could not read mypy's output ({len(errors)} errors read):\n{done.stdout}{done.stderr}")
    return sorted(errors)


def read_mypy_baseline() -> list[str]:
    if not MYPY_BASELINE.exists():
        return []
    lines = MYPY_BASELINE.read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def write_mypy_baseline(errors: list[str]) -> None:
    header = ["# mypy's errors on isyncsf_desktop accepted for now: `python -m mypy isyncsf_desktop`, one",
              "# 'path: [error-code] message' per line, no line numbers. It may only shrink; rewrite it with",
              f"# `{UPDATE_BASELINE}` (see tests/test_architecture.py)."]
    MYPY_BASELINE.write_text("\n".join(header + sorted(errors)) + "\n", encoding="utf-8")


def _listed(counter: Counter[str]) -> str:
    return "\n".join(f"  {line}" + (f"  (x{n})" if n > 1 else "") for line, n in sorted(counter.items()))


def test_mypy_errors_only_shrink():
    """mypy reports no error that the baseline does not list, and every error the baseline lists is still there."""
    current, baseline = Counter(mypy_errors()), Counter(read_mypy_baseline())
    new, gone = current - baseline, baseline - current
    problems = []
    if new:
        problems.append(
            f"mypy reports {sum(new.values())} error(s) that {MYPY_BASELINE.name} does not list:\n{_listed(new)}\n"
            f"Fix them (`python -m mypy {PACKAGE}` shows the lines). If one is deliberate (a stub that is "
            "wrong, say), prefer `# type: ignore[code]  # why` on its line; only as a last resort add it to "
            f"the baseline: `{UPDATE_BASELINE}`.")
    if gone:
        problems.append(
            f"{sum(gone.values())} error(s) of {MYPY_BASELINE.name} are gone (thank you):\n{_listed(gone)}\n"
            f"Shrink the baseline so that they cannot come back: `{UPDATE_BASELINE}`.")
    assert not problems, "\n\n".join(problems)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update-mypy-baseline"]:
        sys.exit(f"usage: {UPDATE_BASELINE}")
    errors = mypy_errors()
    before = read_mypy_baseline()
    write_mypy_baseline(errors)
    print(f"{MYPY_BASELINE.relative_to(ROOT)}: {len(errors)} error(s) (was {len(before)})")
