"""Helpers for tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from isyncsf_desktop.engine.events import CancelToken, Event
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.runner import SyncEngine
from isyncsf_desktop.salesforce.client import OrgClient

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from isyncsf_desktop.engine.journal import OrgRef

    from isyncsf_desktop.sandbox.server import SandboxServer


def client_for(server: "SandboxServer", alias: str) -> "Salesforce":
    """The product's own client (simple-salesforce over HTTPS, trusting the sandbox CA)."""
    from isyncsf_desktop.salesforce.connection import connect

    return connect(server.instance_url, server.token(alias), ca_file=server.ca_file)


def soap_login(server: "SandboxServer", alias: str, *, password: str | None = None) -> Any:
    """POST a SOAP partner ``login`` for the org's API user (its password and security token, or ``password``
    in their place) to ``/services/Soap/u/59.0``; returns the HTTP response."""
    info = server.info()["orgs"][alias]
    secret = password if password is not None else info["password"] + info["security_token"]
    body = ('<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns:n1="urn:partner.soap.sforce.com"><env:Body><n1:login><n1:username>'
            f'{info["username"]}</n1:username><n1:password>{secret}</n1:password></n1:login></env:Body>'
            '</env:Envelope>')
    return client_for(server, alias).session.post(f"{server.instance_url}/services/Soap/u/59.0", data=body,
                                                  headers={"Content-Type": "text/xml", "SOAPAction": "login"},
                                                  timeout=10)


def org_client(server: "SandboxServer", alias: str) -> OrgClient:
    """The engine's client on one sandbox org."""
    return OrgClient.connect(server.instance_url, server.token(alias), ca_file=server.ca_file, alias=alias)


def org_ref(server: "SandboxServer", alias: str) -> "OrgRef":
    from isyncsf_desktop.engine.journal import OrgRef

    return OrgRef(alias=alias, org_id=server.store(alias).org_id, instance_url=server.instance_url)


@dataclass
class Pair:
    """A source and a target org on one sandbox server, with the engine's pieces around them."""

    server: Any
    journal: Journal
    source: OrgClient
    target: OrgClient
    events: list[Event] = field(default_factory=list)

    def engine(self, observer: Any = None, cancel: CancelToken | None = None) -> SyncEngine:
        def collect(event: Event) -> None:
            self.events.append(event)
            if observer is not None:
                observer(event)

        return SyncEngine(self.journal, org_client(self.server, "src"), org_client(self.server, "tgt"),
                          org_ref(self.server, "src"), org_ref(self.server, "tgt"), observer=collect, cancel=cancel)

    def insert(self, side: str, object_name: str, rows: list[dict[str, Any]]) -> list[str]:
        """Create records on one side; returns their ids (raises if any failed)."""
        client = self.source if side == "src" else self.target
        results = client.create([{"attributes": {"type": object_name}, **row} for row in rows])
        failed = [r for r in results if not r["success"]]
        assert not failed, failed[:3]
        return [r["id"] for r in results]

    def rows(self, side: str, soql: str) -> list[dict[str, Any]]:
        client = self.source if side == "src" else self.target
        return client.query(soql)


class Crash(BaseException):
    """Stands for the process dying: nothing in the engine may catch it."""


def die_after_create(engine: Any, call: int, *, with_next: bool = False,
                     position: Callable[[list[dict[str, Any]]], int] | None = None) -> list[int]:
    """Make ``engine.target.create`` die (raise :class:`Crash`) right after its ``call``-th call reached
    the org: the org committed the batch, the answer is never journaled. Returns the batch sizes sent.
    ``with_next`` (batches in flight): the dying call waits until the call after it reached the org too,
    so two batches are committed and unjournaled. With batches in flight, which call comes "2nd" must not
    depend on the threads: ``position`` gives a batch's place in the order the engine sends them (from its
    records), and the dying batch is the one at place ``call``, the next the one at ``call + 1``. (Counting
    answers instead can pick the first batch when the second is answered sooner; the engine, which finishes
    batches in order, then waits on the dying one and never sends the next.)"""
    real_create = engine.target.create
    sizes: list[int] = []
    next_arrived = threading.Event()
    lock = threading.Lock()

    def create_then_die(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = real_create(records)
        with lock:
            sizes.append(len(records))
            place = position(records) if position is not None else len(sizes)
        if place > call:
            next_arrived.set()
        if place == call:
            if with_next:
                assert next_arrived.wait(30), "the next batch never went out while this one was in flight"
            raise Crash()
        return result

    engine.target.create = create_then_die
    return sizes


def walk_to(journal: Journal, job_id: int, state: str, message: str | None = None) -> None:
    """Put a job in ``state`` through the moves the lifecycle allows (the shortest way from where it
    stands), as runs would have: the journal refuses a jump no run makes."""
    from collections import deque

    from isyncsf_desktop.engine.lifecycle import NEXT_STATES, JobState

    start, goal = JobState(journal.job(job_id).state), JobState(state)
    came: dict[JobState, JobState | None] = {start: None}
    todo = deque([start])
    while todo and goal not in came:
        here = todo.popleft()
        for nxt in sorted(NEXT_STATES[here]):
            if nxt not in came:
                came[nxt] = here
                todo.append(nxt)
    if goal not in came:
        raise AssertionError(f"no way from {start} to {goal}")
    path: list[JobState] = []
    step: JobState | None = goal
    while step is not None and step != start:
        path.append(step)
        step = came[step]
    if start == goal:
        path = [goal]
    for i, each in enumerate(reversed(path)):
        journal.set_state(job_id, each, message if i == len(path) - 1 else None)


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``isyncsf ARGV`` in this process: its exit code, stdout and stderr."""
    from isyncsf_desktop.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_cli_orgs(capsys: Any, server: "SandboxServer", aliases: tuple[str, ...] = ("source", "target")) -> None:
    """Register the sandbox's orgs ``aliases`` with ``isyncsf org add``, as a user of the CLI does."""
    for alias in aliases:
        code, out, err = run_cli(capsys, "org", "add", alias, "--instance-url", server.instance_url,
                                 "--access-token", server.token(alias), "--ca-file", str(server.ca_file))
        assert code == 0 and f"added org {alias}" in out, (out, err)
