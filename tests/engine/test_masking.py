"""Masking personal data while copying (issue 25): the deterministic masker, rules and their refusals, the
secret in the keyring, and syncs against two sandbox orgs through the real client (no leak anywhere)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from helpers import org_client

from isyncsf_desktop import paths
from isyncsf_desktop.engine import masking
from isyncsf_desktop.engine.export import export_errors_csv
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.masking import (FAKE_KINDS, KINDS, PARAMS, Masker, MaskRule, check_rule, export_secret,
                                            import_secret, suggest_masking, target_spec, template_secret)
from isyncsf_desktop.engine.runner import EngineError
from isyncsf_desktop.engine.template import TemplateError, parse_template
from isyncsf_desktop.salesforce import secrets

MASK = {"Email": {"kind": "email"}, "Phone": {"kind": "keep_last", "n": 4}, "FirstName": {"kind": "first_name"},
        "LastName": {"kind": "last_name"}, "MailingStreet": {"kind": "street"},
        "Birthdate": {"kind": "date_shift", "days": 60}}
FIELDS = ["FirstName", "LastName", "Email", "Phone", "MailingStreet", "Birthdate", "Department"]
EMAIL_KEY = target_spec(MaskRule("Email", "email"), {"type": "email", "length": 80}, match_key=True)


def template(**options: object) -> dict:
    return {"name": "masked", "options": {"continue_on_error": True, **options},
            "objects": [{"object": "Contact", "fields": FIELDS, "match_by": ["Email"], "mask": MASK}]}


def people(count: int, start: int = 0) -> list[dict]:
    return [{"FirstName": f"Zelda{i:03d}", "LastName": f"Quimbyson{i:03d}", "Email": f"zelda.q{i:03d}@realmail.test",
             "Phone": f"+1 415 555 {1000 + i:04d}", "MailingStreet": f"{100 + i} Secretive Lane",
             "Birthdate": "1981-03-1" + str(i % 10), "Department": "Sales"} for i in range(start, start + count)]


def source_values(rows: list[dict]) -> set[str]:
    """Every source value of a masked field (the phone's last 4 digits are kept on purpose)."""
    out = set()
    for row in rows:
        out |= {row["FirstName"], row["LastName"], row["Email"], row["MailingStreet"], row["Phone"]}
    return out


def target_contacts(pair) -> dict[str, dict]:
    return {r["Email"]: r for r in pair.rows("tgt", f"SELECT Id, {', '.join(FIELDS)} FROM Contact")}


# ------------------------------------------------------------------------------------------ the masker
def test_masker_is_deterministic_per_secret_and_kind():
    one, again, other = Masker(b"a" * 32), Masker(b"a" * 32), Masker(b"b" * 32)
    spec = {"kind": "email", "length": 80}
    assert one.value(spec, "Ann@Corp.test") == again.value(spec, "ann@corp.test")     # emails compare as the org does
    assert one.value(spec, "ann@corp.test") != other.value(spec, "ann@corp.test")
    assert one.value({"kind": "full_name"}, "Ann") == again.value({"kind": "full_name", "length": 121}, "Ann")
    assert one.value({"kind": "keep_last", "n": 4}, "123-45-6789").endswith("6789")
    assert re.fullmatch(r"\d{3}-\d{2}-6789", one.value({"kind": "keep_last", "n": 4}, "123-45-6789"))
    assert one.value({"kind": "blank"}, "x") is None and one.value({"kind": "fixed", "value": "n/a"}, "x") == "n/a"
    shifted = one.value({"kind": "date_shift", "days": 10}, "1980-05-20")
    assert shifted != "1980-05-20" and shifted.startswith("1980-05-")
    moved = one.value({"kind": "number", "percent": 10, "type": "currency", "scale": 2}, 1000.0)
    assert 900 <= moved <= 1100 and round(moved, 2) == moved


def test_unique_fields_stay_unique_within_the_field_length():
    masker = Masker(b"s" * 32)
    for kind, length in (("email", 30), ("full_name", 20), ("hash", 12), ("company", 15), ("phone", 40)):
        spec = {"kind": kind, "length": length, "unique": True}
        masked = [masker.value(spec, f"source value {i}") for i in range(5000)]
        assert len(set(masked)) == 5000, kind
        assert max(len(m) for m in masked) <= length, kind
        if kind == "email":
            assert all(re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", m) for m in masked)


def test_every_fake_kind_respects_the_field_length():
    masker = Masker(b"s" * 32, "de_DE")
    for kind in ("first_name", "last_name", "full_name", "street", "city", "postal_code", "company", "text"):
        for length in (4, 10, 40):
            assert len(masker.value({"kind": kind, "length": length}, "Müller")) <= length


ALL_SPECS = [{"kind": kind, **PARAMS.get(kind, {}), "length": 40, "unique": unique}
             for kind in KINDS if kind not in ("keep", "blank", "fixed") for unique in (False, True)
             if not unique or kind in FAKE_KINDS]
SAMPLES = ["Jörg Müller", "jane.doe@corp.test", "+1 415 555 0199", "1981-03-14", "221B Baker Street", "x"]
CHILD = """
import json, sys
from isyncsf_desktop.engine.masking import Masker
specs, samples = json.loads(sys.stdin.read())
out = {}
for locale in ("en_US", "de_DE", "fr_FR", "ja_JP"):
    masker = Masker(b"cross-process secret", locale)
    out[locale] = [[masker.value(spec, 1234.5 if spec["kind"] == "number" else value) for value in samples]
                   for spec in specs]
print(json.dumps(out))
"""


def test_masked_values_are_the_same_in_another_process():
    """Same secret + kind + value -> same masked value in a fresh interpreter (its own hash seed, Faker instance
    and caches): what a re-sync next week, or a colleague with the imported secret, relies on."""
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps([ALL_SPECS, SAMPLES]), text=True,
                           capture_output=True, env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    theirs = json.loads(child.stdout)
    for locale, rows in theirs.items():
        masker = Masker(b"cross-process secret", locale)
        ours = [[masker.value(spec, 1234.5 if spec["kind"] == "number" else value) for value in SAMPLES]
                for spec in ALL_SPECS]
        assert ours == rows, locale
        assert ours != [[value for value in SAMPLES] for _ in ALL_SPECS]
    for secret in (b"short", b"k" * 32, b"long" * 40):      # keyed BLAKE2b-512; a key over 64 bytes hashed first
        key = secret if len(secret) <= 64 else hashlib.blake2b(secret).digest()
        assert Masker(secret).digest("email", "ann@corp.test") == \
            hashlib.blake2b(b"email\x00ann@corp.test", key=key, digest_size=64).digest()


def test_fake_values_are_drawn_from_the_locale_lists_without_seeding_faker_per_value(monkeypatch):
    """The fast path: phones, streets, cities, companies, text and names come from the locale's provider lists with
    the HMAC bytes as the choices; Faker is not re-seeded per value (en_US postcodes, a computed provider method,
    still are). Every Faker placeholder is filled."""
    from faker.proxy import Faker

    seeded = []
    monkeypatch.setattr(Faker, "seed_instance", lambda self, seed=None: seeded.append(seed))
    masker = Masker(b"s" * 32, "en_US")
    kinds = ("phone", "street", "city", "company", "text", "first_name", "last_name", "full_name", "email", "hash")
    values = {kind: [masker.value({"kind": kind, "length": 255}, f"source {i}") for i in range(300)] for kind in kinds}
    assert seeded == []
    assert all(re.fullmatch(r"[0-9()+.\-x ]{10,}", v) for v in values["phone"]), values["phone"][:5]
    assert all(re.fullmatch(r"\d+ \S.*", v) for v in values["street"]), values["street"][:5]
    for kind in ("street", "city", "company", "text"):
        assert not any(re.search(r"[{}#%$!@?]", v) for v in values[kind] if kind != "text"), kind
        assert len(set(values[kind])) > 100, kind         # varied, not one value
    assert all(re.fullmatch(r"(\w+ ){3,}.*\.", v) for v in values["text"]), values["text"][:2]


def test_the_faker_methods_masking_uses_are_flattened_in_the_usual_locales():
    """The speed of masking at volume rests on each Faker method being one flattened program per locale (a value is
    one unpack, map and format), not a walk of Faker's formats per value; a method that cannot be flattened is still
    masked, step by step (free text always is)."""
    for locale in ("en_US", "de_DE", "fr_FR", "ja_JP", "en_GB"):
        names = masking._locale(locale)
        for kind, method in masking._FAKER_METHOD.items():
            assert names.program(method) is not None, (locale, kind)
    masker = Masker(b"s" * 32)
    step_by_step = masker._compiled("street_address")        # the step-by-step path of a format
    value = step_by_step(masking._Draw(masker.digest("street", "1 Main Street")))
    assert re.fullmatch(r"\d+ \S.*", value) and "{" not in value


def test_the_cache_of_masked_values_stays_bounded(monkeypatch):
    """Memory stays flat at volume: the masker keeps at most a fixed number of masked values per field function
    (when full, it starts again), and a value dropped from the cache masks the same way again."""
    monkeypatch.setattr(masking, "_CACHE_SIZE", 1000)
    masker = Masker(b"s" * 32)
    spec = {"kind": "street", "length": 80}
    first = masker.value(spec, "source 0")
    sizes = set()
    for i in range(5500):
        masker.value(spec, f"source {i}")
        sizes.add(masker.cache_size())
    assert max(sizes) == 1000 and masker.cache_size() == 500
    assert masker.value(spec, "source 0") == first


# ------------------------------------------------------------------------------------------ rules
@pytest.mark.parametrize("mask, match_by, fields, says", [
    ({"Email": {"kind": "scramble"}}, None, None, "objects[1] (Contact).mask: Email: unknown masking kind"),
    ({"Phone": {"kind": "phone"}}, None, ["Email"], "objects[1] (Contact).mask: Phone: not a field of this line"),
    ({"Email": {"kind": "blank"}}, ["Email"], None, "Email: blank on a match key would make matching impossible"),
    ({"Email": {"kind": "keep_last", "n": 0}}, None, None, "keep_last \"n\" must be a whole number"),
])
def test_bad_rules_are_refused_naming_the_line_and_field(mask, match_by, fields, says):
    line = {"object": "Contact", "mask": mask}
    if match_by:
        line["match_by"] = match_by
    if fields:
        line["fields"] = fields
    with pytest.raises(TemplateError, match=re.escape(says)):
        parse_template({"name": "t", "objects": [line]})
    with pytest.raises(TemplateError, match="mask_locale"):
        parse_template({"name": "t", "options": {"mask_locale": "xx_XX"}, "objects": [{"object": "Contact"}]})


@pytest.mark.parametrize("mask, match_by, says", [
    ({"LastName": {"kind": "blank"}}, ["Email"], "Contact.mask: LastName is required in the target org"),
    ({"Birthdate": {"kind": "email"}}, ["Email"], "Contact.mask: email does not fit Birthdate, a date field"),
    ({"MailingPostalCode": {"kind": "email"}}, ["MailingPostalCode"], "holds only 20 characters: too short"),
    ({"AccountId": {"kind": "hash"}}, ["Email"], "AccountId is a reference field: it cannot be masked"),
    ({"Title": {"kind": "fixed", "value": "x" * 200}}, ["Email"], "Title holds at most 128 characters"),
])
def test_rules_that_cannot_fit_the_target_field_are_refused_by_the_plan(pair, mask, match_by, says):
    tmpl = {"name": "t", "objects": [{"object": "Contact", "match_by": match_by, "mask": mask}]}
    engine = pair.engine()
    with pytest.raises((TemplateError, EngineError), match=re.escape(says)):
        engine.plan(engine.create_job(tmpl))


def test_suggestions_propose_the_personal_fields_of_a_describe(pair):
    fields = pair.source.describe("Contact")["fields"]
    rules = {r.field: r for r in suggest_masking(fields, "Contact")}
    assert {"Email", "Phone", "MobilePhone", "FirstName", "LastName", "MailingStreet", "MailingCity",
            "MailingPostalCode", "Birthdate"} <= set(rules)
    assert rules["Email"].kind == "email" and rules["Birthdate"].kind == "date_shift" and rules["Email"].reason
    assert not {"AccountId", "Department", "LeadSource", "Name"} & set(rules)      # Name is not writable
    assert all(r.kind in KINDS for r in rules.values())
    meta = {f["name"]: f for f in fields}
    assert all(check_rule(r, meta[r.field]) is None for r in rules.values())


# ------------------------------------------------------------------------------------------ the secret
def test_the_secret_lives_in_the_keyring_and_round_trips_through_export_and_import(memory_keyring):
    assert template_secret("masked", create=False) is None
    secret = template_secret("masked")
    assert secret and template_secret("masked") == secret
    assert memory_keyring.get_password(secrets.SERVICE_NAME, "template:masked:mask_secret")
    text = export_secret("masked")
    fresh = secrets.MemoryKeyring()          # a colleague's machine
    keyring.set_keyring(fresh)
    secrets._reset_session_state()
    assert template_secret("masked", create=False) is None
    import_secret("masked", text)
    assert template_secret("masked") == secret
    with pytest.raises(ValueError, match="not a masking secret"):
        import_secret("masked", "hunter2")


# ------------------------------------------------------------------------------------------ syncs
def run_sync(pair, tmpl: dict, journal: Journal | None = None):
    engine = pair.engine() if journal is None else _engine(pair, journal)
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


def _engine(pair, journal: Journal):
    from helpers import org_ref

    from isyncsf_desktop.engine.runner import SyncEngine

    return SyncEngine(journal, org_client(pair.server, "src"), org_client(pair.server, "tgt"),
                      org_ref(pair.server, "src"), org_ref(pair.server, "tgt"))


def test_masking_is_deterministic_across_runs_and_a_delta_run(pair):
    rows = people(12)
    ids = pair.insert("src", "Contact", rows)
    _, job_id, first = run_sync(pair, template())
    assert first.totals.inserted == 12 and first.totals.errors == 0
    assert first.masked == {"Contact.Birthdate": 12, "Contact.Email": 12, "Contact.FirstName": 12,
                            "Contact.LastName": 12, "Contact.MailingStreet": 12, "Contact.Phone": 12}
    assert pair.journal.masked_counts(job_id=job_id) == first.masked
    assert first.as_json()["masked"]["Contact.Email"] == 12
    before = target_contacts(pair)
    assert not source_values(rows) & {v for r in before.values() for v in r.values()}
    assert all(r["Phone"].endswith(f"{1000 + i:04d}"[-4:]) for i, r in enumerate(sorted(
        before.values(), key=lambda r: r["Phone"][-4:])))
    assert all(e.endswith(("@example.com", "@example.org", "@example.net")) for e in before)

    _, _, again = run_sync(pair, template())                # a second job: nothing changed in the source
    assert (again.totals.inserted, again.totals.updated, again.totals.existing) == (0, 0, 12)
    pair.source.update([{"attributes": {"type": "Contact"}, "Id": ids[3], "Department": "Support"}])
    _, _, delta = run_sync(pair, template(delta_sync=True))
    assert (delta.totals.inserted, delta.totals.updated) == (0, 1)
    after = target_contacts(pair)
    assert set(after) == set(before)
    changed = [e for e in after if after[e]["Department"] != before[e]["Department"]]
    assert len(changed) == 1 and {k: v for k, v in after[changed[0]].items() if k != "Department"} == \
        {k: v for k, v in before[changed[0]].items() if k != "Department"}


def test_a_masked_match_key_matches_on_its_masked_value_with_an_imported_secret(pair, tmp_path):
    rows = people(6)
    pair.insert("src", "Contact", rows)
    run_sync(pair, template())
    text = export_secret("masked")
    keyring.set_keyring(secrets.MemoryKeyring())      # a colleague: other keyring, other journal (no id map)
    secrets._reset_session_state()
    import_secret("masked", text)
    colleague = Journal(tmp_path / "colleague.sqlite3")
    try:
        _, _, result = run_sync(pair, template(), colleague)
    finally:
        colleague.close()
    assert (result.totals.inserted, result.totals.existing, result.totals.errors) == (0, 6, 0)
    assert len(target_contacts(pair)) == 6


def _files_under(folder: Path) -> list[Path]:
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


@pytest.mark.expect_log
def test_no_source_value_of_a_masked_field_leaks_anywhere(pair, isolated_home, tmp_path):
    rows = people(10)
    rows[2]["Department"] = rows[5]["Department"] = "Blocked"
    pair.insert("src", "Contact", rows)
    pair.target.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": "Contact.No_Blocked", "Metadata": {"active": True, "errorConditionFormula":
                                                       "Department = 'Blocked'", "errorMessage": "Blocked department"}})
    # two target contacts already hold the masked email of rows[7]: its match is ambiguous and the error says so
    masked_7 = Masker(template_secret("masked")).value(EMAIL_KEY, rows[7]["Email"])
    pair.insert("tgt", "Contact", [{"LastName": "Twin", "Email": masked_7}, {"LastName": "Twin", "Email": masked_7}])
    log_file = isolated_home / "debug.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    journal = Journal(paths.journal_path())
    try:
        engine, job_id, result = run_sync(pair, template(), journal)
        export_errors_csv(journal, job_id, isolated_home / "errors.csv")
        engine.retry(job_id)
    finally:
        journal.close()
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
    assert result.totals.errors == 3 and result.totals.inserted == 7
    errors = (isolated_home / "errors.csv").read_text()
    assert "Blocked department" in errors and masked_7 in errors
    leaks = source_values(rows)
    written = _files_under(isolated_home)
    assert paths.journal_path() in written and log_file in written and log_file.stat().st_size > 0
    for path in written:
        data = path.read_bytes()
        found = [value for value in leaks if value.encode() in data]
        assert not found, f"{path.name} holds source values {found[:3]}"
    target_rows = pair.rows("tgt", f"SELECT Id, {', '.join(FIELDS)} FROM Contact")
    assert not leaks & {str(v) for r in target_rows for v in r.values()}


def test_retry_and_rollback_work_unchanged_on_masked_records(pair):
    rows = people(5)
    rows[1]["Department"] = "Blocked"
    ids = pair.insert("src", "Contact", rows)
    rule = pair.target.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": "Contact.No_Blocked", "Metadata": {"active": True, "errorConditionFormula":
                                                       "Department = 'Blocked'", "errorMessage": "Blocked"}})["id"]
    engine, job_id, result = run_sync(pair, template())
    assert result.totals.errors == 1
    pair.source.update([{"attributes": {"type": "Contact"}, "Id": ids[1], "Department": "Sales"}])
    retried = engine.retry(job_id)
    assert (retried.totals.inserted, retried.totals.errors) == (1, 0) and retried.masked["Contact.Email"] == 1
    masker = Masker(template_secret("masked"))
    assert masker.value(EMAIL_KEY, rows[1]["Email"]) in target_contacts(pair)
    assert pair.journal.masked_counts(job_id=job_id)["Contact.Email"] == 6     # 5 in the sync, 1 in the retry

    rolled = engine.rollback(job_id)
    assert rolled.totals.deleted == 5 and target_contacts(pair) == {}
