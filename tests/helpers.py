"""Helpers for tests (import as ``from helpers import ...``)."""

from __future__ import annotations

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
