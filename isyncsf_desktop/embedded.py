"""The embedded sandbox: the demo orgs a new user lands on when nothing is configured.

On first launch (no orgs in the registry) the app starts the local sandbox org server and
registers its two demo orgs; on later launches it starts the server again when a registered org
is a local sandbox one, and refreshes those entries (the port is chosen anew each time).
Qt-free, so the GUI runs it on a worker thread and tests run it directly.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import paths
from .salesforce.registry import OrgEntry, OrgRegistry
from .sandbox.server import DEFAULT_ORGS, SandboxServer

logger = logging.getLogger(__name__)

DEMO_ALIASES = {"source": "demo-source", "target": "demo-target"}
# The embedded server's request and Bulk threads run Python in the app's process: with the default
# 5 ms switch interval a window callback waits up to 5 ms for the interpreter each time, which adds
# up to frozen frames while a big Bulk job or query is processed. 1 ms keeps the window responsive.
SWITCH_INTERVAL = 0.001


def needs_embedded_sandbox(registry: OrgRegistry) -> bool:
    """Nothing configured yet, or some registered org lives on the embedded sandbox."""
    entries = registry.list()
    return not entries or any(e.auth == "sandbox" for e in entries)


def start_embedded_sandbox(registry: OrgRegistry, data_dir: Path | None = None) -> SandboxServer:
    """Start the sandbox server and (re-)register its demo orgs; returns the running server."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    server = SandboxServer(data_dir or paths.sandbox_dir(), DEFAULT_ORGS).start()
    known = {e.alias: e for e in registry.list()}
    for org_alias, alias in DEMO_ALIASES.items():
        store = server.store(org_alias)
        info = store.org_info
        user = store.get("User", store.api_user_id) or {}
        previous = known.get(alias)
        if previous is not None and previous.auth != "sandbox":
            logger.info("an org named %s exists and is not a sandbox org; the demo org is not registered", alias)
            continue
        entry = OrgEntry(alias=alias, org_id=store.org_id, instance_url=server.instance_url,
                         username=user.get("Username", ""), org_type="Local sandbox",
                         ca_file=str(server.ca_file), auth="sandbox",
                         last_used=previous.last_used if previous else None)
        registry.add(entry, server.token(org_alias), replace=True)
        logger.info("demo org %s (%s) at %s", alias, info.get("name"), server.instance_url)
    return server
