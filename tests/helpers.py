"""Helpers for tests (import as ``from helpers import ...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from isyncsf_desktop.sandbox.server import SandboxServer


def client_for(server: "SandboxServer", alias: str) -> "Salesforce":
    """The product's own client (simple-salesforce over HTTPS, trusting the sandbox CA)."""
    from isyncsf_desktop.salesforce.connection import connect

    return connect(server.instance_url, server.token(alias), ca_file=server.ca_file)
