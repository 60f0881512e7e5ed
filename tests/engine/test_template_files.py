"""Template files that are no template: refused with a sentence before anything is read whole or stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isyncsf_desktop.engine.template import MAX_TEMPLATE_BYTES, TemplateError, load_template, parse_template

GOOD = {"name": "Accounts", "objects": [{"object": "Account", "fields": ["Name"]}]}


def test_not_utf8_is_named_with_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps({"name": "Comptes é", "objects": [{"object": "Account"}]}, ensure_ascii=False)
                     .encode("latin-1"))
    with pytest.raises(TemplateError, match=r"latin1.json: not UTF-8 text \(byte 0xe9 at offset \d+\); save it as UTF-8"):
        load_template(path)


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert load_template(path).name == "Accounts"


@pytest.mark.parametrize("depth", [40, 200_000])
def test_absurd_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"name": "x", "objects": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(TemplateError, match="nests deeper than a template ever does"):
        load_template(path)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as file:                 # sparse: 30 MB on paper, nothing to read
        file.truncate(30_000_000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("a huge template was read"))
    with pytest.raises(TemplateError, match=r"huge.json: 30.0 MB is too big for a template \(at most 2 MB\)"):
        load_template(path)
    assert MAX_TEMPLATE_BYTES == 2_000_000


def test_a_document_nested_too_deep_is_refused_when_given_as_data() -> None:
    document = dict(GOOD)
    nested: list = []
    document["description"] = nested
    for _ in range(30):
        nested.append([])
        nested = nested[0]
    with pytest.raises(TemplateError, match="more than 16 levels"):
        parse_template(document)


def test_a_real_template_passes(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "isyncsf_desktop" / "data" / "templates" / "demo.json"
    assert load_template(demo).objects
