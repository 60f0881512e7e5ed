"""The embedded sandbox: the demo orgs a new user lands on when nothing is configured.

On first launch (no orgs in the registry) the app starts the local sandbox org server and
registers its two demo orgs; on later launches it starts the server again when a registered org
is a local sandbox one, and refreshes those entries (the port is chosen anew each time).

The server runs in a child process (``isyncsf sandbox serve --until-stdin-closes``; in the built app
the app's own executable with :data:`SERVE_FLAG`), not in the app's: its request and Bulk threads
then never hold the window's interpreter lock, so a big sync of the demo orgs does not freeze the
window. The app holds the child's standard input: when the app quits or dies the pipe closes and
the server stops. Qt-free, so the GUI runs it on a worker thread and tests run it directly.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from . import paths
from .salesforce.registry import OrgEntry, OrgRegistry

logger = logging.getLogger(__name__)

DEMO_ALIASES = {"source": "demo-source", "target": "demo-target"}
SERVE_FLAG = "--serve-sandbox"      # the built app's argv[1] for "be the demo org server", then the data dir
START_TIMEOUT_S = 120.0             # first launch seeds both demo orgs: seconds on a slow disk
STOP_TIMEOUT_S = 15.0
LOG_NAME = "sandbox.log"            # the child's warnings and errors, beside the app's log
LOG_LIMIT = 1_000_000               # bytes: a bigger one is started afresh at the next start


class SandboxError(RuntimeError):
    """The demo org server could not start; the message says why."""


def needs_embedded_sandbox(registry: OrgRegistry) -> bool:
    """Nothing configured yet, or some registered org lives on the embedded sandbox."""
    entries = registry.list()
    return not entries or any(e.auth == "sandbox" for e in entries)


def serve_command(data_dir: Path) -> list[str]:
    """How to start the demo org server: the built app runs itself, an installed one its CLI module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, SERVE_FLAG, str(data_dir)]
    return [sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir", str(data_dir),
            "--until-stdin-closes"]


def serve_from_app_argv(argv: list[str]) -> int | None:
    """The built app's entry: ``[exe, SERVE_FLAG, data_dir]`` serves the demo orgs (exit code); else None."""
    if len(argv) < 3 or argv[1] != SERVE_FLAG:
        return None
    # A windowed build may start without Python streams even when the app handed it pipes.
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w")):
        if getattr(sys, name) is None:
            try:
                setattr(sys, name, os.fdopen(fd, mode))
            except OSError:
                pass
    from .cli import main

    return main(["sandbox", "serve", "--data-dir", argv[2], "--until-stdin-closes"])


class SandboxProcess:
    """The demo org server running in a child process. ``start()`` returns once it listens."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = START_TIMEOUT_S) -> "SandboxProcess":
        log_path = paths.log_dir() / LOG_NAME
        fresh = not log_path.exists() or log_path.stat().st_size > LOG_LIMIT
        self._log = open(log_path, "wb" if fresh else "ab")  # noqa: SIM115 - the child writes to it all its life
        paths.make_private(log_path)
        start = self._log.tell()
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
        try:
            self._process = subprocess.Popen(serve_command(self.data_dir), stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._log, creationflags=flags,
                                             env=_child_env())
        except OSError as exc:
            self._close_log()
            raise SandboxError(f"cannot start the demo org server: {exc.strerror or exc}") from None
        line = _read_line(self._process.stdout, timeout)  # type: ignore[arg-type]
        try:
            self.info = json.loads(line) if line else {}
        except ValueError:
            self.info = {}
        if not self.info.get("instance_url"):
            # None: silent for the whole timeout. b"" (end of file): it closed its output, so it is ending;
            # stop() waits for that, so its last words are in the log before they are read.
            self.stop()
            raise SandboxError(_start_failure(log_path, start, timeout if line is None else None))
        logger.info("demo org server (pid %d) on %s", self._process.pid, self.instance_url)
        return self

    def stop(self) -> None:
        """End the server: close its input (it stops by itself), then kill it if it does not.

        Its output is closed only once it has ended: a start that timed out may still have a thread
        reading that pipe, and closing a pipe under a reader blocks until the reader returns."""
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.stdin is not None:
                    process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("the demo org server did not stop in %.0f s; ending it", STOP_TIMEOUT_S)
                process.kill()
                process.wait(STOP_TIMEOUT_S)
            if process.stdout is not None:
                process.stdout.close()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "SandboxProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ access
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def instance_url(self) -> str:
        return str(self.info["instance_url"])

    @property
    def ca_file(self) -> Path:
        return Path(self.info["ca_file"])

    def org(self, alias: str) -> dict[str, Any]:
        """``org_id``, ``access_token``, ``username`` … of one of the server's orgs."""
        return dict(self.info["orgs"][alias])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("QT_QPA_PLATFORM", None)   # the server has no window; nothing of Qt's is for it
    return env


def _read_line(stream: IO[bytes], timeout: float) -> bytes | None:
    """The first line the child prints; b"" when its output ended first (it stopped), None when it said
    nothing within ``timeout``. (A thread, because a pipe cannot be waited on with a timeout on every
    platform.)"""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), name="sandbox-start", daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else None


def _start_failure(log_path: Path, offset: int, waited: float | None) -> str:
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            said = log.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        said = []
    reason = f"it did not answer within {waited:.0f} s" if waited is not None else "it stopped"
    last = said[-1] if said else ""
    detail = f": {last.removeprefix('error: ')}" if last else f" (see {LOG_NAME} in the log folder)"
    return f"the demo org server did not start: {reason}{detail}"


def start_embedded_sandbox(registry: OrgRegistry, data_dir: Path | None = None) -> SandboxProcess:
    """Start the sandbox server and (re-)register its demo orgs; returns the running server."""
    server = SandboxProcess(data_dir or paths.sandbox_dir()).start()
    try:
        known = {e.alias: e for e in registry.list()}
        for org_alias, alias in DEMO_ALIASES.items():
            org = server.org(org_alias)
            previous = known.get(alias)
            if previous is not None and previous.auth != "sandbox":
                logger.info("an org named %s exists and is not a sandbox org; the demo org is not registered", alias)
                continue
            entry = OrgEntry(alias=alias, org_id=org["org_id"], instance_url=server.instance_url,
                             username=org.get("username") or "", org_type="Local sandbox",
                             ca_file=str(server.ca_file), auth="sandbox",
                             last_used=previous.last_used if previous else None)
            registry.add(entry, org["access_token"], replace=True)
            logger.info("demo org %s at %s", alias, server.instance_url)
    except BaseException:
        server.stop()
        raise
    return server


__all__ = ["DEMO_ALIASES", "SERVE_FLAG", "SandboxError", "SandboxProcess", "needs_embedded_sandbox",
           "serve_command", "serve_from_app_argv", "start_embedded_sandbox"]
