"""The spool of a hierarchy's source records (engine/run/spool.py): levels placed from ids and parent ids, records
read back in the order read, and nothing of a record on disk in clear."""

from __future__ import annotations

from pathlib import Path

from isyncsf_desktop.engine.run.spool import Spool

RECORDS = [
    {"Id": "001A", "Name": "Root", "ParentId": None, "Phone": "+44 20 7946 0001"},
    {"Id": "001C", "Name": "Grandchild", "ParentId": "001B", "Phone": "+44 20 7946 0003"},
    {"Id": "001B", "Name": "Child", "ParentId": "001A", "Phone": "+44 20 7946 0002"},
    {"Id": "001X", "Name": "Loop one", "ParentId": "001Y", "Phone": None},
    {"Id": "001Y", "Name": "Loop two", "ParentId": "001X", "Phone": None},
    {"Id": "001Z", "Name": "Outside parent", "ParentId": "001NOTREAD", "Phone": None},
]


def test_levels_parents_first_in_the_order_read_and_a_data_cycle_last(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool", "Account", ["ParentId"]) as spool:
        spool.add(RECORDS[:3])
        spool.add(RECORDS[3:])
        assert spool.count == 6
        levels = spool.place_levels()
        got = [[(r["Id"], r.get("__cycle__", False)) for part in spool.parts(level, 10) for r in part]
               for level in range(levels)]
    assert got == [[("001A", False), ("001Z", False)], [("001B", False)], [("001C", False)],
                   [("001X", True), ("001Y", True)]]


def test_records_come_back_whole_and_no_value_is_on_disk_in_clear(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool", "Account", ["ParentId"]) as spool:
        spool.add(RECORDS)
        assert list(spool.records()) == RECORDS
        stored = b"".join(bytes(row[0]) for row in spool._db.execute("SELECT data FROM rec"))
        for record in RECORDS:
            for value in (record["Name"], record["Phone"]):
                if value:
                    assert value.encode() not in stored, value
        assert list(spool.parts(0, 1)) == []      # no levels placed yet: no record has one


def test_parts_are_at_most_the_size_asked(tmp_path: Path) -> None:
    roots = [{"Id": f"001{i:04d}", "Name": f"Root {i}", "ParentId": None} for i in range(7)]
    with Spool(tmp_path / "spool", "Account", ["ParentId"]) as spool:
        spool.add(roots)
        assert spool.place_levels() == 1
        assert [len(part) for part in spool.parts(0, 3)] == [3, 3, 1]
        assert [r for part in spool.parts(0, 3) for r in part] == roots
