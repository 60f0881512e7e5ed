"""Record types and picklist values the target lacks, through the real client against the sandbox: the
template's record type renames and default per object, picklist value mappings (single and multi-select),
the org's own refusal of an unmapped value of a restricted picklist, a mapping to something the target lacks
failing its records (not the run), and retry using the job's mappings."""

from __future__ import annotations

from isyncsf_desktop.engine.template import parse_template
from isyncsf_desktop.sandbox.seeds import build_seed

SOURCE_TYPES = {"Account.AccountSource": {"type": "multipicklist", "length": 4099,
                                          "values": ["Web", "Phone Inquiry", "Partner Referral", "Trade Show"]}}
TARGET_TYPES = {"Account.AccountSource": {"type": "multipicklist", "length": 4099, "restrictedPicklist": True,
                                          "values": ["Web", "Phone", "Referral", "Events"]},
                "Account.Rating": {"restrictedPicklist": True, "values": ["Hot", "Warm", "Cold"]}}
ACCOUNTS = {"object": "Account", "fields": ["Name", "External_Id__c", "Rating", "AccountSource", "RecordTypeId"],
            "match_by": ["External_Id__c"]}


def template(mappings: dict | None = None, objects: list[dict] | None = None) -> dict:
    out = {"name": "values", "options": {"continue_on_error": True}, "objects": objects or [ACCOUNTS]}
    if mappings is not None:
        out["mappings"] = mappings
    return out


def pair_with(make_pair, **target_overrides):
    source = build_seed("empty", overrides={"field_flags": SOURCE_TYPES})
    target = build_seed("empty", overrides={"field_flags": TARGET_TYPES, **target_overrides})
    return make_pair(source, target)


def record_types(pair, side: str, obj: str) -> dict[str, str]:
    return {r["DeveloperName"]: r["Id"] for r in pair.rows(
        side, f"SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = '{obj}'")}


def on_target(pair, soql_fields: str) -> dict[str, dict]:
    return {r["External_Id__c"]: r for r in pair.rows("tgt", f"SELECT External_Id__c, {soql_fields} FROM Account")}


def errors(pair, job_id: int) -> dict[str, tuple[str, str]]:
    ext = {r["Id"]: r["External_Id__c"] for r in pair.rows("src", "SELECT Id, External_Id__c FROM Account")}
    return {ext[e.source_id]: (e.status_code, e.message) for e in pair.journal.errors(job_id)}


def test_a_renamed_record_type_maps_and_the_default_takes_what_matches_nothing(make_pair) -> None:
    """The target calls Partner Channel_Partner (a rename, mapped) and lacks Support on Case (the default,
    Billing, takes those); Customer matches by DeveloperName."""
    pair = pair_with(make_pair, rename_record_types={"Account.Partner": "Channel_Partner"},
                     remove_record_types=["Case.Support"])
    src_acc, tgt_acc = record_types(pair, "src", "Account"), record_types(pair, "tgt", "Account")
    src_case, tgt_case = record_types(pair, "src", "Case"), record_types(pair, "tgt", "Case")
    assert set(tgt_acc) == {"Customer", "Channel_Partner", "PersonAccount"} and set(tgt_case) == {"Billing"}
    pair.insert("src", "Account", [{"Name": "P", "External_Id__c": "P", "RecordTypeId": src_acc["Partner"]},
                                   {"Name": "C", "External_Id__c": "C", "RecordTypeId": src_acc["Customer"]}])
    pair.insert("src", "Case", [{"Subject": "S", "RecordTypeId": src_case["Support"]},
                                {"Subject": "B", "RecordTypeId": src_case["Billing"]}])
    cases = {"object": "Case", "fields": ["Subject", "RecordTypeId"], "match_by": ["Subject"]}
    mappings = {"record_types": {"Account": {"map": {"Partner": "Channel_Partner"}},
                                 "Case": {"default": "Billing"}}}
    engine = pair.engine()
    job_id = engine.create_job(template(mappings, [ACCOUNTS, cases]))
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0
    assert {k: r["RecordTypeId"] for k, r in on_target(pair, "RecordTypeId").items()} == {
        "P": tgt_acc["Channel_Partner"], "C": tgt_acc["Customer"]}
    assert {r["Subject"]: r["RecordTypeId"] for r in pair.rows("tgt", "SELECT Subject, RecordTypeId FROM Case")} \
        == {"S": tgt_case["Billing"], "B": tgt_case["Billing"]}


def test_unmapped_record_types_and_mappings_to_missing_ones_fail_their_records_with_the_reason(make_pair) -> None:
    pair = pair_with(make_pair, rename_record_types={"Account.Partner": "Channel_Partner"},
                     remove_record_types=["Case.Support"])
    src_acc = record_types(pair, "src", "Account")
    pair.insert("src", "Account", [{"Name": "P", "External_Id__c": "P", "RecordTypeId": src_acc["Partner"]},
                                   {"Name": "C", "External_Id__c": "C", "RecordTypeId": src_acc["Customer"]}])
    engine = pair.engine()
    plain = engine.create_job(template())
    assert engine.sync(plain).state == "Synced"          # one record fails, not the run
    assert errors(pair, plain) == {"P": ("RECORD_TYPE_NOT_FOUND", "record type Account.Partner does not exist in "
                                         "the target org; map it to a target record type in the template's record "
                                         "type mappings for Account")}
    wrong = engine.create_job(template({"record_types": {"Account": {"map": {"Partner": "Partners"}}}}))
    engine.sync(wrong)
    assert errors(pair, wrong) == {"P": ("RECORD_TYPE_NOT_FOUND", "the record type mapping Account.Partner -> "
                                         "Partners names a record type that does not exist on Account in the "
                                         "target org")}


def test_picklist_values_map_single_and_multi_select(make_pair) -> None:
    """Rating 'Warmish' -> 'Warm'; each value of the multi-select AccountSource mapped, ';'-joined, duplicates
    dropped; values without a mapping go as they are."""
    pair = pair_with(make_pair)
    pair.insert("src", "Account", [
        {"Name": "A", "External_Id__c": "A", "Rating": "Warmish", "AccountSource": "Web;Phone Inquiry;Trade Show"},
        {"Name": "B", "External_Id__c": "B", "Rating": "Hot", "AccountSource": "Partner Referral;Trade Show"},
        {"Name": "C", "External_Id__c": "C", "AccountSource": "Phone Inquiry;Partner Referral"}])
    mappings = {"picklists": {"Account.Rating": {"Warmish": "Warm"},
                              "Account.AccountSource": {"Phone Inquiry": "Phone", "Partner Referral": "Referral",
                                                        "Trade Show": "Events"}}}
    engine = pair.engine()
    job_id = engine.create_job(template(mappings))
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0, errors(pair, job_id)
    got = {k: (r["Rating"], r["AccountSource"]) for k, r in on_target(pair, "Rating, AccountSource").items()}
    assert got == {"A": ("Warm", "Web;Phone;Events"), "B": ("Hot", "Referral;Events"), "C": (None, "Phone;Referral")}
    # mapping two values to one: the duplicate is dropped
    collapse = {"picklists": {"Account.AccountSource": {"Phone Inquiry": "Referral", "Partner Referral": "Referral"}}}
    job = engine.create_job(template(collapse, [{**ACCOUNTS, "fields": ["Name", "External_Id__c", "AccountSource"],
                                                 "filter": "External_Id__c = 'C'"}]))
    assert engine.sync(job).totals.updated == 1
    assert on_target(pair, "AccountSource")["C"]["AccountSource"] == "Referral"


def test_an_unmapped_value_of_a_restricted_picklist_fails_that_record_with_the_orgs_error(make_pair) -> None:
    pair = pair_with(make_pair)
    pair.insert("src", "Account", [{"Name": "A", "External_Id__c": "A", "Rating": "Warmish"},
                                   {"Name": "B", "External_Id__c": "B", "Rating": "Hot"},
                                   {"Name": "M", "External_Id__c": "M", "AccountSource": "Web;Trade Show"}])
    engine = pair.engine()
    job_id = engine.create_job(template())
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.objects["Account"].inserted == 1
    assert errors(pair, job_id) == {
        "A": ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Account Rating: bad value for restricted picklist field: "
                                                         "Warmish"),
        "M": ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Account Source: bad value for restricted picklist field: "
                                                         "Trade Show")}


def test_a_mapping_to_a_value_the_target_lacks_fails_the_record_with_the_reason(make_pair) -> None:
    """Checked by the engine, so an unrestricted picklist does not silently get a new value either."""
    pair = pair_with(make_pair, field_flags={**TARGET_TYPES, "Account.Industry": {"values": ["Banking", "Retail"]}})
    pair.insert("src", "Account", [{"Name": "A", "External_Id__c": "A", "Rating": "Warmish"},
                                   {"Name": "I", "External_Id__c": "I", "Industry": "Energy"},
                                   {"Name": "OK", "External_Id__c": "OK", "Rating": "Hot", "Industry": "Retail"}])
    mappings = {"picklists": {"Account.Rating": {"Warmish": "Lukewarm"}, "Account.Industry": {"Energy": "Power"}}}
    engine = pair.engine()
    job_id = engine.create_job(template(mappings, [{**ACCOUNTS, "fields": [*ACCOUNTS["fields"], "Industry"]}]))
    assert engine.sync(job_id).objects["Account"].inserted == 1
    assert errors(pair, job_id) == {
        "A": ("PICKLIST_NOT_MAPPED", "the picklist mapping Account.Rating 'Warmish' -> 'Lukewarm' names a value the "
                                     "target's picklist does not have"),
        "I": ("PICKLIST_NOT_MAPPED", "the picklist mapping Account.Industry 'Energy' -> 'Power' names a value the "
                                     "target's picklist does not have")}
    assert sorted(e.fields[0] for e in pair.journal.errors(job_id)) == ["Industry", "Rating"]


def test_retry_uses_the_mappings_saved_now_and_the_job_records_them(make_pair) -> None:
    """A user who maps the value that failed and presses Retry Failed gets the fix: a retry takes the mappings of
    the template saved now (they change the values written, not which records go) and the job's template then
    holds what the retry used; a retry with no template saved now keeps the job's."""
    pair = pair_with(make_pair)
    pair.insert("src", "Account", [{"Name": "A", "External_Id__c": "A", "Rating": "Warmish"}])
    engine = pair.engine()
    job_id = engine.create_job(template({"picklists": {"Account.Rating": {"Warmish": "Lukewarm"}}}))
    assert engine.sync(job_id).totals.errors == 1
    current = parse_template(template({"picklists": {"Account.Rating": {"Warmish": "Warm"}}}))
    assert engine.retry(job_id).totals.errors == 1                         # nothing saved since: the job's mapping
    assert "'Warmish' -> 'Lukewarm'" in errors(pair, job_id)["A"][1]
    retried = engine.retry(job_id, current=current)
    assert retried.totals.inserted == 1 and retried.totals.errors == 0
    assert on_target(pair, "Rating")["A"]["Rating"] == "Warm"
    assert parse_template(engine.journal.job(job_id).template).picklists.as_json() == {
        "Account.Rating": {"Warmish": "Warm"}}
