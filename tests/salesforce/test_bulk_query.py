"""OrgClient.bulk_query and query_large: Bulk API 2.0 query jobs give the records REST gives (nested
parents, nulls, typed numbers and booleans), and a big read switches to one when it costs fewer calls."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import org_client

from isyncsf_desktop.salesforce.client import OrgClient

QUERIES = [
    "SELECT Id, Name, Email, AccountId, Account.Name, Account.Parent.Name, Birthdate, ReportsTo.Email FROM Contact "
    "ORDER BY Id",
    "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, Parent.External_Id__c, IsDeleted, CreatedDate FROM Account "
    "ORDER BY Id",
    "SELECT Id, Name, Amount, Probability, CloseDate, Account.IsDeleted, Account.Owner.Username FROM Opportunity "
    "ORDER BY Id",
]


def query_jobs(client: OrgClient) -> int:
    return len(client.sf.restful("jobs/query")["records"])


@pytest.mark.parametrize("soql", QUERIES)
def test_a_bulk_query_gives_what_rest_gives(demo_server: Any, soql: str) -> None:
    client = org_client(demo_server, "source")
    rest = client.query(soql)
    assert rest and client.bulk_query(soql) == rest


def _many_accounts(sandbox_factory: Any, count: int) -> tuple[Any, OrgClient]:
    server = sandbox_factory({"qa": "empty"})
    store = server.store("qa")
    with store.transaction():
        for i in range(count):
            store.create("Account", {"Name": f"Account {i}", "External_Id__c": f"E{i}",
                                     "NumberOfEmployees": i if i % 2 else None})
    return server, org_client(server, "qa")


def test_a_big_read_switches_to_a_bulk_query_when_it_costs_fewer_calls(sandbox_factory: Any) -> None:
    _, client = _many_accounts(sandbox_factory, 12_500)
    soql = "SELECT Id, Name, External_Id__c, NumberOfEmployees FROM Account ORDER BY Id"
    before = client.api_calls
    rest = client.query(soql)
    rest_calls = client.api_calls - before
    assert len(rest) == 12_500 and rest_calls == 7
    before = client.api_calls
    large = client.query_large(soql, bulk_from=2000)
    assert large == rest and query_jobs(client) == 1
    assert client.api_calls - before < rest_calls        # first REST page, open, poll(s), one result page


def test_a_read_below_the_threshold_or_of_few_pages_stays_on_rest(sandbox_factory: Any) -> None:
    _, client = _many_accounts(sandbox_factory, 5000)
    soql = "SELECT Id, Name FROM Account"
    assert len(client.query_large(soql, bulk_from=10_000)) == 5000        # below the threshold
    assert len(client.query_large(soql, bulk_from=2000)) == 5000          # 2 more REST pages: cheaper
    assert len(client.query_large(soql)) == 5000                          # 0: never
    assert query_jobs(client) == 0


def test_a_big_read_comes_page_by_page_each_read_when_asked_for(sandbox_factory: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, client = _many_accounts(sandbox_factory, 12_500)
    soql = "SELECT Id, Name, External_Id__c, NumberOfEmployees FROM Account ORDER BY Id"
    rest = client.query(soql)

    before = client.api_calls
    total, pages = client.query_pages(soql)                   # REST pages: 2,000 records each
    assert total == 12_500 and client.api_calls - before == 1    # the first page only, so far
    sizes = []
    for page in pages:
        sizes.append(len(page))
        assert client.api_calls - before == len(sizes)         # the next page is read when asked for
    assert sizes == [2000] * 6 + [500]

    monkeypatch.setattr("isyncsf_desktop.salesforce.client.BULK_QUERY_PAGE", 5000)
    total, pages = client.query_pages(soql, bulk_from=2000)   # a Bulk query: its result pages, one by one
    assert total == 12_500 and query_jobs(client) == 0          # opened when the first page is asked for
    read = [next(pages)]
    assert query_jobs(client) == 1
    read += list(pages)
    assert [len(page) for page in read] == [5000, 5000, 2500]
    assert [record for page in read for record in page] == rest


def test_a_read_counted_past_the_threshold_goes_straight_to_a_bulk_query(sandbox_factory: Any) -> None:
    """With the caller's count (a run's scan), a read the Bulk API does in fewer calls opens its query job at
    once: no REST page only to learn how many records there are (the org would find and sort them twice)."""
    _, client = _many_accounts(sandbox_factory, 12_500)
    soql = "SELECT Id, Name, External_Id__c, NumberOfEmployees FROM Account ORDER BY Id"
    rest = client.query(soql)
    paths: list[str] = []
    client.sf.session.hooks["response"].append(lambda answer, *args, **kwargs: paths.append(answer.request.path_url))

    def rest_pages() -> int:
        return sum(1 for path in paths if "/query/" in path and "/jobs/query" not in path)   # first and more

    total, pages = client.query_pages(soql, bulk_from=2000, expected=12_000)
    assert total == 12_500                       # the job's own count of rows, not the caller's
    assert query_jobs(client) == 1 and rest_pages() == 0
    assert [record for page in pages for record in page] == rest and rest_pages() == 0

    paths.clear()                                # counted below the threshold: REST pages, as without a count
    total, pages = client.query_pages(soql, bulk_from=20_000, expected=12_500)
    assert total == 12_500 and [record for page in pages for record in page] == rest
    assert rest_pages() == 7 and query_jobs(client) == 1
