"""The preview's estimated time and share of each org's daily API requests (issue 24), on the sandbox orgs through
the real client: the share is the run's calls over what the org's own limit leaves; the estimate is made on the
sandbox defaults until a sync to the same target org has measured its writes, then on those runs; a run that
would use more than half of what is left, or reach the API ceiling, is warned of."""

from __future__ import annotations

import json
from typing import Any

import pytest

from isyncsf_desktop.engine import estimate
from isyncsf_desktop.engine.estimate import BulkJob, WriteSample, api_share, bulk_jobs_wait, bulk_wait
from isyncsf_desktop.salesforce.pacing import JobRates

TEMPLATE = {"name": "Estimate", "options": {"continue_on_error": True, "batch_size": 50},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]}]}


def accounts(pair: Any, start: int, count: int) -> None:
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(start, start + count)])


def limits(pair: Any, alias: str) -> tuple[int, int]:
    """(used, max) daily API requests, as the org's /limits says (the /limits call itself not counted)."""
    daily = (pair.source if alias == "src" else pair.target).limits()["DailyApiRequests"]
    return int(daily["Max"]) - int(daily["Remaining"]) - 1, int(daily["Max"])


def test_the_preview_gives_its_estimate_and_each_orgs_share_of_the_requests_it_has_left(pair):
    accounts(pair, 0, 120)
    engine = pair.engine()
    preview = engine.preview(TEMPLATE)
    assert preview.status == "Completed", preview.message
    est = preview.estimate
    assert est["basis"] == "sandbox default"          # a new journal: no earlier run to this org
    assert 0 < est["reads_seconds"] <= est["seconds"] and est["writes_seconds"] > 0
    assert est["low"] <= est["seconds"] <= est["high"] and est["high"] >= est["reads_seconds"] + est["writes_seconds"]
    assert est["latency"] > 0
    for side, alias in (("source", "src"), ("target", "tgt")):
        share = preview.api_share[side]
        used, most = limits(pair, alias)
        # the org's own limit, and its usage as it last said it (the preview's calls were the last ones)
        assert (share["used"], share["max"]) == (used, most)
        assert share["remaining"] == most - used
        assert share["calls"] == preview.api_calls[side]["total"]
        assert share["percent"] == round(100 * share["calls"] / (most - used), 1)
        assert "warning" not in share
    # in the JSON and in the journal's header
    data = json.loads(json.dumps(preview.as_json()))
    assert data["estimate"] == est and data["api_share"]["target"] == preview.api_share["target"]
    header = pair.journal.preview(preview.preview_id).header
    assert header["estimate"] == est and header["api_share"]["source"]["calls"] == preview.api_calls["source"]["total"]


def test_a_sync_keeps_what_its_writes_took_and_the_next_preview_to_that_org_is_estimated_on_it(pair):
    accounts(pair, 0, 120)
    result = pair.engine().start_sync(TEMPLATE)
    assert result.state == "Synced" and result.totals.inserted == 120
    kept = estimate.samples(pair.journal, pair.server.store("tgt").org_id)
    assert len(kept) == 1
    sample = kept[0]
    # batches of 50: three Collections requests carrying the 120 records, timed as they were out
    assert (sample.collections_requests, sample.collections_records, sample.bulk_jobs) == (3, 120, 0)
    assert sample.collections_seconds > 0 and sample.record_seconds is not None and sample.latency > 0

    accounts(pair, 120, 80)
    preview = pair.engine().preview(TEMPLATE)
    assert preview.objects["Account"]["insert"] == 80
    assert preview.estimate["basis"] == "measured on 1 earlier run to this org"
    assert preview.estimate["low"] <= preview.estimate["seconds"] <= preview.estimate["high"]

    assert pair.engine().start_sync(TEMPLATE).totals.inserted == 80
    accounts(pair, 200, 10)
    assert pair.engine().preview(TEMPLATE).estimate["basis"] == "measured on 2 earlier runs to this org"
    # another target org has no run of its own: the defaults
    assert estimate.samples(pair.journal, "00D000000000000ZZZ") == []


def test_a_bulk_sync_keeps_its_jobs_rows_and_looks_for_the_next_preview(pair):
    accounts(pair, 0, 60)
    template = {**TEMPLATE, "options": {**TEMPLATE["options"], "bulk_threshold": 20}}
    engine = pair.engine()
    assert engine.start_sync(template).totals.inserted == 60
    (sample,) = estimate.samples(pair.journal, pair.server.store("tgt").org_id)
    assert (sample.bulk_jobs, sample.bulk_rows, sample.collections_records) == (1, 60, 0)
    assert sample.bulk_looks == engine.target.bulk_polls >= 1 and sample.bulk_seconds > 0
    assert sample.bulk_rate is not None

    accounts(pair, 60, 40)
    preview = pair.engine().preview(template)
    assert preview.estimate["basis"] == "measured on 1 earlier run to this org"
    target = preview.api_calls["target"]
    assert target["bulk_jobs"] == 1 and preview.estimate["bulk_looks"] >= 1
    # the looks beyond the one a job's fewest calls hold are calls the run makes too
    assert target["total"] == target["reads"] + target["writes"] + max(0, preview.estimate["bulk_looks"] - 1)


def test_nothing_to_write_costs_only_the_reads(pair):
    accounts(pair, 0, 20)
    assert pair.engine().start_sync(TEMPLATE).state == "Synced"
    preview = pair.engine().preview(TEMPLATE)        # every record unchanged
    assert preview.objects["Account"]["unchanged"] == 20
    est = preview.estimate
    assert est["basis"] == "nothing to write" and est["writes_seconds"] == 0
    assert est["seconds"] == est["reads_seconds"] and est["low"] <= est["seconds"] <= est["high"]


def test_a_run_that_would_reach_the_api_ceiling_is_warned_of(pair):
    accounts(pair, 0, 120)
    first = pair.engine().preview(TEMPLATE)
    needs, costs = first.api_calls["target"]["total"], first.preview_calls["target"]
    used, _ = limits(pair, "tgt")
    # enough for the same preview again, and for what the sync needs, but not below the ceiling (90%)
    pair.server.faults("tgt").update(api_budget=used + costs + needs)
    preview = pair.engine().preview(TEMPLATE)
    assert preview.status == "Completed", preview.message
    share = preview.api_share["target"]
    assert share["max"] == used + costs + needs and share["calls"] == needs
    assert share["before_pause"] == int(0.9 * share["max"]) - share["used"] < needs
    assert share["warning"].startswith("the run would pause at the API ceiling")
    assert f"{needs:,} calls on the target org tgt" in share["warning"]
    assert share["warning"] in preview.notices
    assert "warning" not in preview.api_share["source"]


def test_more_than_half_of_what_is_left_is_warned_of_below_the_ceiling():
    share = api_share(60, (900, 1000), 1.0, "target", "prod")
    assert share is not None
    assert (share["remaining"], share["percent"], share["before_pause"]) == (100, 60.0, 100)
    assert share["warning"] == "the run would use 60% of the 100 daily API requests the target org prod has left."
    assert "warning" not in (api_share(50, (900, 1000), 1.0, "target", "prod") or {})
    paused = api_share(95, (900, 1000), 0.99, "target", "prod") or {}
    assert paused["before_pause"] == 90 and "pause at the API ceiling" in paused["warning"]
    spent = api_share(1, (1000, 1000), 0.9, "source", "dev") or {}
    assert spent["percent"] is None and "pause" in spent["warning"]
    assert api_share(10, None, 0.9, "source", "dev") is None       # the org did not say


def test_bulk_jobs_are_waited_for_as_the_client_looks_at_them():
    # a first job of its kind: the client backs off (0.05 s, doubling) until it sees the end
    first, looks = bulk_wait(50_000, 10_000.0, None)
    assert 5.0 <= first and looks >= 3
    # a later one is looked at about when it should end: fewer looks, little past the end
    later, fewer = bulk_wait(50_000, 10_000.0, 10_000.0)
    assert 5.0 <= later <= 5.0 * 1.1 and fewer < looks
    # one write of two jobs, one after the other, is the same two jobs' waits
    assert bulk_jobs_wait([50_000, 50_000], 10_000.0, 1, JobRates(), ("Contact", "insert")) == pytest.approx(
        (first + later, looks + fewer), rel=0.02)
    # two out at once share the org's rate: about as long in all, but each job is slower than the client expects
    # and is looked at more often
    shared, shared_looks = bulk_jobs_wait([50_000, 50_000], 10_000.0, 2, JobRates(), ("Contact", "insert"))
    assert 10.0 <= shared <= 10.0 * 1.15 and shared_looks > looks + fewer
    jobs = [BulkJob("Contact", "insert", 40_000), BulkJob("Contact", "insert", 40_000),
            BulkJob("Contact", "insert", 20_000)]
    est = estimate.estimate(1.0, 0.01, 0, 0, jobs, [], depth=2, batch=40_000)     # at the sandbox's default rate
    replay = bulk_jobs_wait([40_000, 40_000, 20_000], estimate.DEFAULT_BULK_ROWS_PER_SECOND, 2, JobRates(),
                            ("Contact", "insert"))
    assert est["bulk_looks"] == replay[1]
    assert est["writes_seconds"] == pytest.approx(replay[0] + (3 * estimate.BULK_JOB_CALLS + replay[1]) * 0.01,
                                                  abs=0.01)
    measured = WriteSample(run_id=1, bulk_jobs=3, bulk_rows=100_000, bulk_seconds=10.0, latency=0.01)
    assert measured.bulk_rate == pytest.approx(100_000 / (10.0 - 3 * estimate.BULK_JOB_CALLS * 0.01))
    on_it = estimate.estimate(1.0, 0.01, 0, 0, jobs, [measured], depth=2, batch=40_000)
    assert on_it["basis"] == "measured on 1 earlier run to this org"
    # the same jobs take about what they took (the rate measured includes the waits past each job's end, which
    # the replay adds again: a little longer, the less so the longer the jobs)
    assert 10.0 <= on_it["writes_seconds"] <= 10.0 * 1.3


def test_the_client_measures_its_writes_and_latency(pair):
    before = pair.target.write_stats
    pair.insert("tgt", "Account", [{"Name": f"W{i}"} for i in range(250)])     # two Collections requests
    pair.target.query("SELECT Id FROM Account LIMIT 1")
    after = pair.target.write_stats
    sample = WriteSample.between(0, before, after)
    assert (sample.collections_requests, sample.collections_records) == (2, 250)
    assert sample.collections_seconds > 0 and after["latency"] > 0
