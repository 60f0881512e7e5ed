"""Sorting in slices (salesforce/slices.py): the same list as ``sorted``, in the same order, equal items
keeping theirs, with no single C call over more than a slice of the items."""

from __future__ import annotations

import random

import pytest

from isyncsf_desktop.salesforce.slices import FREE_SLICE, SORT_SLICE, release_in_slices, sorted_in_slices


@pytest.mark.parametrize("size", [0, 1, 7, SORT_SLICE, SORT_SLICE + 1, 5 * SORT_SLICE + 123])
def test_the_same_order_as_sorted(size):
    rng = random.Random(size)
    texts = [f"{rng.randrange(size // 3 + 1):06d}-{rng.choice('abc')}" for _ in range(size)]   # many equal
    assert sorted_in_slices(texts) == sorted(texts)
    assert sorted_in_slices(set(texts)) == sorted(set(texts))
    positions = list(range(size))
    parents = [rng.choice(["", "001A", "001B", "001C"]) for _ in range(size)]

    def key(i):
        return (parents[i],)
    in_slices = sorted_in_slices(positions, key=key)
    assert in_slices == sorted(positions, key=key)         # stable: one parent's records keep their order
    if size:
        assert [i for i in in_slices if parents[i] == "001B"] == [i for i in positions if parents[i] == "001B"]


def test_no_sort_over_more_than_a_slice():
    """Each comparison the sort makes is between items of one slice until the slices are merged (then the
    merge compares one item at a time, in Python code: the interpreter lock can change hands in between)."""
    class Item:
        calls: list[tuple[int, int]] = []

        def __init__(self, value: int) -> None:
            self.value = value

        def __lt__(self, other: Item) -> bool:
            Item.calls.append((self.value, other.value))
            return self.value < other.value

    size = 3 * SORT_SLICE
    items = [Item(v) for v in random.Random(1).sample(range(size), size)]
    slice_of = {item.value: index // SORT_SLICE for index, item in enumerate(items)}
    result = sorted_in_slices(items)
    assert [item.value for item in result] == list(range(size))
    sorting = Item.calls[:next(i for i, (a, b) in enumerate(Item.calls) if slice_of[a] != slice_of[b])]
    assert len(sorting) > SORT_SLICE and all(slice_of[a] == slice_of[b] for a, b in sorting)
    cross = sum(1 for a, b in Item.calls if slice_of[a] != slice_of[b])
    assert cross <= 2 * size          # the merge: a few comparisons per item, never a sort of everything


def test_release_frees_a_slice_at_a_time():
    """The items go from the end of each list, no more than a slice of them per step, and the lists end empty."""
    freed: list[int] = []

    class Held:
        def __init__(self, value: int) -> None:
            self.value = value

        def __del__(self) -> None:
            freed.append(self.value)

    size = 2 * FREE_SLICE + 5
    first, second = [Held(v) for v in range(size)], [Held(-1), Held(-2)]
    release_in_slices(first, second)
    assert first == [] and second == []
    assert sorted(freed) == sorted([*range(size), -1, -2])
    blocks = [freed[:FREE_SLICE], freed[FREE_SLICE:2 * FREE_SLICE], freed[2 * FREE_SLICE:size]]   # the end first
    assert [sorted(block) for block in blocks] == [list(range(FREE_SLICE + 5, size)),
                                                   list(range(5, FREE_SLICE + 5)), list(range(5))]
