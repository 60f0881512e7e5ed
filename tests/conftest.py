"""Shared fixtures: an isolated home, and sandbox orgs reached through the real client over HTTPS."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from isyncsf_desktop.sandbox.server import SandboxServer

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ISYNCSF_HOME: no test touches the real data or config dirs; and its own
    machine-wide lock folder (ISYNCSF_LOCK_DIR), shared with the processes it starts."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("ISYNCSF_HOME", str(home))
    monkeypatch.setenv("ISYNCSF_LOCK_DIR", str(home / "locks"))
    return home


@pytest.fixture(autouse=True)
def fail_on_unexpected_warnings(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test that makes the app log a warning or an error fails, unless it says it expects one
    (``@pytest.mark.expect_log``): warnings in the log are problems a user would see."""
    caplog.set_level(logging.WARNING, logger="isyncsf_desktop")
    yield
    if request.node.get_closest_marker("expect_log"):
        return
    unexpected = [r for r in caplog.get_records("call")
                  if r.levelno >= logging.WARNING and r.name.startswith("isyncsf_desktop")]
    if unexpected:
        lines = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in unexpected[:5])
        pytest.fail(f"unexpected log records (mark the test expect_log if they are the point):\n{lines}")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[object]:
    """Secrets go to an in-memory keyring in tests: never the machine's real one."""
    import keyring

    from isyncsf_desktop.salesforce import secrets

    previous = keyring.get_keyring()
    backend = secrets.MemoryKeyring()
    keyring.set_keyring(backend)
    secrets._reset_session_state()
    yield backend
    keyring.set_keyring(previous)
    secrets._reset_session_state()


@pytest.fixture(autouse=True, scope="session")
def quick_sandbox_servers() -> Iterator[None]:
    """Servers started in this process stop within 20 ms rather than half a second (their poll interval), share
    one URL map (it is only read once built), and build each seed once: later orgs of that seed get a fresh copy
    of it (building is deterministic; the seeds' own tests build them)."""
    import functools
    import pickle

    from isyncsf_desktop.sandbox.app import SandboxApp, build_url_map
    from isyncsf_desktop.sandbox.seeds import Seed, build_seed
    from isyncsf_desktop.sandbox.server import SandboxServer

    built: dict[str, bytes] = {}

    def seed_copy(name: str) -> Seed:
        if name not in built:
            built[name] = pickle.dumps(build_seed(name))
        seed: Seed = pickle.loads(built[name])
        return seed

    previous = [(SandboxServer, name, vars(SandboxServer)[name]) for name in ("poll_interval", "seed_builder")]
    previous.append((SandboxApp, "url_map_builder", vars(SandboxApp)["url_map_builder"]))
    SandboxServer.poll_interval = 0.02
    SandboxServer.seed_builder = staticmethod(seed_copy)    # type: ignore[assignment]
    SandboxApp.url_map_builder = staticmethod(functools.cache(build_url_map))    # type: ignore[assignment]
    yield
    for owner, name, value in previous:
        setattr(owner, name, value)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator["SandboxServer"]:
    """One server with the two demo orgs, shared by tests that only read from them."""
    from isyncsf_desktop.sandbox.server import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("demo-sandbox")) as server:
        yield server


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator:
    """Start a fresh server with the given orgs: ``sandbox_factory({"source": "demo-source"})``."""
    from isyncsf_desktop.sandbox.server import SandboxServer

    servers: list[SandboxServer] = []

    def start(orgs: dict, **kwargs: object) -> SandboxServer:
        server = SandboxServer(tmp_path / f"sandbox{len(servers)}", orgs, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# ====================================================================== the CLI suites (tests/test_cli*.py)
@pytest.fixture
def cli_seeds() -> dict[str, str]:
    """The orgs ``cli_orgs`` starts, alias to seed: the demo orgs; a module overrides this fixture for others."""
    return {"source": "demo-source", "target": "demo-target"}


@pytest.fixture
def cli_orgs(sandbox_factory: Any, cli_seeds: dict[str, str], capsys: pytest.CaptureFixture[str]) -> "SandboxServer":
    """A fresh server with the ``cli_seeds`` orgs, each added to the CLI with ``isyncsf org add``."""
    from helpers import add_cli_orgs

    server = sandbox_factory(cli_seeds)
    add_cli_orgs(capsys, server, tuple(cli_seeds))
    return server


@pytest.fixture
def template_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test module's ``TEMPLATE`` written to a JSON file."""
    template = getattr(request.module, "TEMPLATE", None)
    assert template is not None, f"{request.module.__name__} has no TEMPLATE for the template_file fixture"
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path
