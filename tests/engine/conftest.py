"""Engine fixtures: two sandbox orgs (src, tgt) with the product's clients and a journal (``helpers.Pair``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Pair, org_client

from isyncsf_desktop.engine.journal import Journal


@pytest.fixture
def pair(sandbox_factory: Any, tmp_path: Path) -> Iterator[Pair]:
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        yield Pair(server, journal, org_client(server, "src"), org_client(server, "tgt"))
    finally:
        journal.close()


MakePair = Callable[..., Pair]


@pytest.fixture
def make_pair(sandbox_factory: Any, tmp_path: Path) -> Iterator[MakePair]:
    """Two orgs from any seeds (names or Seed objects) on a fresh server, with a journal."""
    journals: list[Journal] = []

    def make(source: Any = "empty", target: Any = "empty") -> Pair:
        server = sandbox_factory({"src": source, "tgt": target})
        journal = Journal(tmp_path / f"journal{len(journals)}.sqlite3")
        journals.append(journal)
        return Pair(server, journal, org_client(server, "src"), org_client(server, "tgt"))

    yield make
    for journal in journals:
        journal.close()
