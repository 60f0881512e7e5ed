"""Start the sandbox org server: HTTPS on loopback, one SQLite file per org, a CA kept in the data dir.

In-process (tests, the app's first launch)::

    with SandboxServer(data_dir, orgs={"source": "demo-source", "target": "demo-target"}) as server:
        server.instance_url, server.ca_file, server.token("source")

From a shell: ``isyncsf sandbox serve`` (see :func:`serve`), which prints one JSON line once listening.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import ssl
import string
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import get_input_stream

from .app import SandboxApp
from .faults import Faults
from .ids import random_pod
from .seeds import SEED_NAMES, Seed, build_seed
from .store import OrgStore

logger = logging.getLogger(__name__)

DEFAULT_ORGS = {"source": "demo-source", "target": "demo-target"}


class SandboxError(RuntimeError):
    """The sandbox cannot start as asked (bad host, unknown seed, data dir not writable...)."""


IDLE_TIMEOUT = 300.0   # seconds a kept-alive connection may wait for its next request


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, like a real org: a client's connection (and its TLS session) serves
    every request it sends until it closes it, instead of a handshake per call. Werkzeug's handler
    answers ``Connection: close`` to everything (it cannot drain a request body the application did
    not read; :class:`_DrainBody` does); that header is left out unless the client asked to close.
    Open connections are tracked so that :meth:`SandboxServer.stop` closes the idle ones. Nagle's algorithm is
    off (``TCP_NODELAY``), as on an org's front end: werkzeug sends an answer's headers and its body in two writes,
    and the body would otherwise wait for the client's delayed acknowledgement of the headers (about 40 ms a
    request on Linux).

    Request logging goes to the ``isyncsf_desktop.sandbox`` logger at DEBUG, not stderr."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:     # not a TCP socket: nothing to turn off
            pass
        connections = getattr(self.server, "open_connections", None)
        if connections is not None:
            with connections[0]:
                connections[1].add(self.connection)

    def finish(self) -> None:
        connections = getattr(self.server, "open_connections", None)
        if connections is not None:
            with connections[0]:
                connections[1].discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        self.answered = False
        stream = self.rfile
        self.rfile = _BodyReader(stream, self)   # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.rfile = stream

    def end_headers(self) -> None:
        self.answered = True
        super().end_headers()

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
            return   # keep the connection: the client did not ask to close it
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path, code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        logger.debug("http error: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug(format, *args)


class _BodyReader:
    """The connection's read stream while one request runs. Once its answer goes out, reads return
    nothing: werkzeug then "drains" the socket, which on a kept-alive connection would swallow the
    client's next request (the body itself was read to its end by :class:`_DrainBody`)."""

    def __init__(self, stream: Any, handler: Any):
        self._stream = stream
        self._handler = handler

    def read(self, size: int = -1) -> bytes:
        return b"" if self._handler.answered else self._stream.read(size)

    def readinto(self, buffer: Any) -> int:
        return 0 if self._handler.answered else self._stream.readinto(buffer)

    def readline(self, size: int = -1) -> bytes:
        return b"" if self._handler.answered else self._stream.readline(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _DrainBody:
    """WSGI middleware: whatever part of the request body the application left unread is read before
    the answer goes out, so the next request on a kept-alive connection starts where it should."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        stream = get_input_stream(environ)
        environ["wsgi.input"] = stream
        environ["wsgi.input_terminated"] = True   # already limited to Content-Length (or de-chunked)
        try:
            return self.app(environ, start_response)
        finally:
            while stream.read(65536):
                pass


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SandboxError(f"the sandbox listens on loopback only (127.0.0.1, ::1 or localhost), not {host!r}")


def _load_ca(data_dir: Path) -> trustme.CA:
    cert_path, key_path = data_dir / "ca.pem", data_dir / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="iSyncSF Sandbox", organization_unit_name="Local sandbox org CA")
    key_path.write_bytes(ca.private_key_pem.bytes())
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(ca.cert_pem.bytes())
    return ca


def parse_org_specs(specs: list[str]) -> dict[str, str]:
    """``["source=demo-source", "qa=empty"]`` → ``{"source": "demo-source", "qa": "empty"}``."""
    out: dict[str, str] = {}
    for spec in specs:
        alias, sep, seed = spec.partition("=")
        if not sep or not alias or not seed:
            raise SandboxError(f"--org takes ALIAS=SEED (e.g. source=demo-source), not {spec!r}")
        if seed not in SEED_NAMES:
            raise SandboxError(f"unknown seed {seed!r} for org {alias!r}; known seeds: {', '.join(SEED_NAMES)}")
        out[alias] = seed
    return out


def username_suffix(alias: str) -> str:
    """A new org's username suffix: ``.`` + a sandbox-style name (the alias's letters and digits, then
    four random ones), e.g. ``.source7k2q``. Salesforce usernames are unique across all orgs and the
    Salesforce CLI keys its org auth files by username, so two orgs of one seed (or of two data dirs)
    must never share one. Chosen once, when the org is created, and kept in its SQLite file."""
    slug = "".join(ch for ch in alias.lower() if ch.isascii() and ch.isalnum())[:6] or "org"
    return "." + slug + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(4))


class SandboxServer:
    """The sandbox org server on a background thread. A context manager; safe to stop twice."""

    #: How often the serving thread looks whether to stop, in seconds (``serve_forever``'s poll interval): a
    #: ``stop()`` waits up to this long. The test suite, which starts and stops a server a test, sets it lower.
    poll_interval: float = 0.5
    #: Builds a new org's seed from its name (one of ``SEED_NAMES``). The test suite builds each seed once and
    #: hands out copies (building is deterministic); the app and ``sandbox serve`` build it.
    seed_builder: Callable[[str], Seed] = staticmethod(build_seed)

    def __init__(self, data_dir: Path | str, orgs: dict[str, str | Seed] | None = None, *,
                 host: str = "127.0.0.1", port: int = 0):
        _check_loopback(host)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.org_seeds = dict(orgs or DEFAULT_ORGS)
        self.stores: dict[str, OrgStore] = {}
        self.app: SandboxApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_file = self.data_dir / "ca.pem"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SandboxServer":
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SandboxError(f"cannot create the sandbox data dir {self.data_dir}: {exc.strerror}") from None
        ca = _load_ca(self.data_dir)
        for alias, seed in self.org_seeds.items():
            self.stores[alias] = self._open_org(alias, seed)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
        self.app = SandboxApp(self.stores)
        try:
            self._server = make_server(self.host, self.port, _DrainBody(self.app), threaded=True,
                                       request_handler=_QuietHandler, ssl_context=context)
        except OSError as exc:
            self._close_stores()
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self._server.open_connections = (threading.Lock(), set())  # type: ignore[attr-defined]
        self.port = self._server.server_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.app.instance_url = f"https://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name="sandbox-server", daemon=True)
        self._thread.start()
        logger.info("sandbox org server on %s (%s)", self.instance_url, ", ".join(self.stores))
        return self

    def _open_org(self, alias: str, seed: str | Seed) -> OrgStore:
        if not alias.replace("-", "").replace("_", "").isalnum():
            raise SandboxError(f"org alias {alias!r}: use letters, digits, '-' and '_' only")
        store = OrgStore(self.data_dir / f"{alias}.sqlite3")
        if not store.initialised:
            try:
                seed_obj = self.seed_builder(seed) if isinstance(seed, str) else seed
            except ValueError as exc:
                store.close()
                raise SandboxError(str(exc)) from None
            used = {other.meta("pod") for other in self.stores.values()}
            pod = next(p for p in (random_pod() for _ in range(1000)) if p not in used)
            store.initialise(seed_obj, pod=pod, username_suffix=username_suffix(alias))
            logger.info("created sandbox org %s from seed %s", alias, seed_obj.name)
        return store

    def stop(self) -> None:
        if self.app is not None:
            for faults in self.app.faults.values():   # held creates are discarded, never committed
                faults.release_held(commit=False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            lock, connections = self._server.open_connections  # type: ignore[attr-defined]
            with lock:
                idle = list(connections)
            for connection in idle:   # kept-alive connections waiting for a next request
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._close_stores()

    def _close_stores(self) -> None:
        for store in self.stores.values():
            store.close()
        self.stores.clear()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ access
    @property
    def instance_url(self) -> str:
        assert self.app is not None, "server not started"
        return self.app.instance_url

    def store(self, alias: str) -> OrgStore:
        return self.stores[alias]

    def token(self, alias: str) -> str:
        return self.stores[alias].default_token()

    def faults(self, alias: str) -> Faults:
        assert self.app is not None
        return self.app.faults[alias]

    def info(self) -> dict[str, Any]:
        """What ``sandbox serve`` prints: instance URL, CA file and each org's id, token and the API
        user's login (username, password and security token for SOAP login)."""
        orgs = {}
        for alias, store in self.stores.items():
            password, security_token = store.login_credentials()
            user = store.get("User", store.api_user_id) or {}
            orgs[alias] = {"org_id": store.org_id, "access_token": store.default_token(),
                           "username": user.get("Username"), "password": password,
                           "security_token": security_token}
        return {"instance_url": self.instance_url, "ca_file": str(self.ca_file.resolve()), "orgs": orgs}


def serve(data_dir: Path, orgs: dict[str, str], host: str = "127.0.0.1", port: int = 0, *,
          until_stdin_closes: bool = False) -> int:
    """Serve until SIGINT/SIGTERM; print one JSON line once listening. Returns an exit code.

    ``until_stdin_closes``: also stop when standard input ends. The desktop app runs its demo orgs so,
    holding the other end of the pipe: when the app quits, or dies, the server goes with it.
    """
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    def _wait_for_end_of_input() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError, AttributeError):   # no stdin at all, or closed under us
            pass
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SandboxServer(data_dir, orgs, host=host, port=port) as server:
            if until_stdin_closes:
                threading.Thread(target=_wait_for_end_of_input, name="sandbox-stdin", daemon=True).start()
            print(json.dumps(server.info()), flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
