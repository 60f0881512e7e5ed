"""GUI test helpers: sandbox orgs registered in an isolated registry, and an AppContext over them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.salesforce.registry import OrgEntry, OrgRegistry


def register_orgs(server: Any, aliases: Iterable[str] = ("source", "target"),
                  registry: OrgRegistry | None = None) -> OrgRegistry:
    """Register the server's orgs (sandbox auth, token in the test keyring) under their aliases."""
    registry = registry or OrgRegistry()
    for alias in aliases:
        store = server.store(alias)
        user = store.get("User", store.api_user_id) or {}
        registry.add(OrgEntry(alias=alias, org_id=store.org_id, instance_url=server.instance_url,
                              username=user.get("Username", f"{alias}@demo.test"), org_type="Local sandbox",
                              ca_file=str(server.ca_file), auth="sandbox"), server.token(alias), replace=True)
    return registry


def make_app_context(server: Any, tmp_path: Path, aliases: Iterable[str] = ("source", "target")) -> AppContext:
    """An AppContext over a fresh journal whose registry knows the server's orgs."""
    return AppContext(registry=register_orgs(server, aliases), journal=Journal(tmp_path / "journal.sqlite3"))


DEMO_TEMPLATE = Path(__file__).resolve().parents[1] / "isyncsf_desktop" / "data" / "templates" / "demo.json"


def demo_context(server: Any, tmp_path: Path) -> AppContext:
    """:func:`make_app_context` with the demo template as the current template."""
    import json

    from isyncsf_desktop.engine.template import parse_template

    ctx = make_app_context(server, tmp_path)
    ctx.template = parse_template(json.loads(DEMO_TEMPLATE.read_text()))
    return ctx
