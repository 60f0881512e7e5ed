"""The CLI's masking: the template's rules, ``--json`` and ``jobs --json`` counts, ``mask-secret export|import``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import keyring
import pytest
from helpers import org_client
from helpers import run_cli as run

from isyncsf_desktop.engine.masking import template_secret
from isyncsf_desktop.salesforce import secrets

TEMPLATE = {"name": "CLI masked", "objects": [{"object": "Contact", "fields": ["LastName", "Email", "Phone"],
                                               "match_by": ["Email"],
                                               "mask": {"Email": {"kind": "email"}, "LastName": "last_name",
                                                        "Phone": {"kind": "keep_last", "n": 4}}}]}


@pytest.fixture
def cli_seeds() -> dict[str, str]:
    return {"source": "empty", "target": "empty"}


def test_sync_json_and_jobs_carry_the_masked_counts(cli_orgs, template_file: Path, capsys):
    org_client(cli_orgs, "source").create([{"attributes": {"type": "Contact"}, "LastName": f"Realname{i}",
                                            "Email": f"real{i}@person.test", "Phone": f"555-010{i}"}
                                           for i in range(3)])
    template = template_file
    code, out, _ = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(template),
                       "--json")
    assert code == 0
    assert json.loads(out)["masked"] == {"Contact.Email": 3, "Contact.LastName": 3, "Contact.Phone": 3}
    code, out, _ = run(capsys, "jobs", "--json")
    assert json.loads(out)[0]["masked"]["Contact.Email"] == 3
    rows = org_client(cli_orgs, "target").query("SELECT LastName, Email, Phone FROM Contact")
    assert len(rows) == 3 and not any("person.test" in r["Email"] or r["LastName"].startswith("Realname")
                                      for r in rows)
    code, out, _ = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(template))
    assert code == 0 and "masked: Contact.Email 3, Contact.LastName 3, Contact.Phone 3" in out


def test_mask_secret_export_and_import_round_trip(template_file: Path, tmp_path: Path, capsys, monkeypatch):
    template = template_file
    code, out, err = run(capsys, "mask-secret", "export", str(template))
    assert code == 0 and "warning" in err and out.startswith("isyncsf-mask-secret-v1:")
    secret = template_secret("CLI masked", create=False)
    code, _, _ = run(capsys, "mask-secret", "export", "CLI masked", "--file", str(tmp_path / "secret.txt"))
    assert code == 0 and (tmp_path / "secret.txt").read_text().strip() == out.strip()
    keyring.set_keyring(secrets.MemoryKeyring())     # a colleague's machine
    secrets._reset_session_state()
    monkeypatch.setattr(sys, "stdin", io.StringIO(out))
    code, _, err = run(capsys, "mask-secret", "import", str(template))
    assert code == 0 and template_secret("CLI masked", create=False) == secret
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-a-secret\n"))
    code, _, err = run(capsys, "mask-secret", "import", "CLI masked")
    assert code == 2 and "not a masking secret" in err
