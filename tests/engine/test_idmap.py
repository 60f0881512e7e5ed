"""The run's id map (engine/run/idmap.py): past its spill size it keeps 18-character ids as bytes, and it still
answers exactly as a dict would, whatever ids it is given."""

from __future__ import annotations

import random

from isyncsf_desktop.engine.run.idmap import IdMap


def sf_id(prefix: str, number: int) -> str:
    return f"{prefix}W4{number:010d}AAA"[:18]


def test_the_map_answers_as_a_dict_before_and_after_it_turns_compact():
    rng = random.Random(28)
    id_map, reference = IdMap(spill=50), {}
    sources = [sf_id("003", n) for n in range(300)]
    targets = [sf_id("003", n) for n in range(150, 450)]      # half of them equal source ids: met inside entries
    for step in range(2000):
        roll = rng.random()
        key = rng.choice(sources)
        if roll < 0.6:
            value = rng.choice(targets)
            id_map[key] = reference[key] = value
        elif roll < 0.7 and key in reference:
            del id_map[key], reference[key]
        elif roll < 0.8:                     # ids of other lengths: a preview's placeholder, a test's short name
            short = f"S{step % 40}"
            id_map[short] = reference[short] = rng.choice([f"T{step}", sf_id("001", step)])
            id_map[key] = reference[key] = f"new-{step}"          # an 18-character id to a longer one
        for probe in (key, rng.choice(targets), f"S{step % 40}", "missing"):
            assert id_map.get(probe) == reference.get(probe) and (probe in id_map) == (probe in reference)
    assert id_map.compact
    assert len(id_map) == len(reference) and dict(id_map) == reference


def test_a_small_map_stays_a_dict():
    id_map = IdMap([(sf_id("001", n), sf_id("001", n + 1000)) for n in range(10)])
    assert not id_map.compact and id_map[sf_id("001", 3)] == sf_id("001", 1003) and len(id_map) == 10


def test_the_buckets_multiply_as_the_map_grows_and_every_entry_is_still_found():
    pairs = [(sf_id("003", n), sf_id("003", n + 500_000)) for n in range(140_000)]     # past 4,096 x 32 entries
    id_map = IdMap(pairs, spill=10)
    assert id_map.compact and len(id_map) == len(pairs)
    assert all(id_map[source] == target for source, target in pairs)
    assert sf_id("003", 500_001) not in id_map
