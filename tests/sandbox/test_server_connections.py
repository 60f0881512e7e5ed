"""The sandbox server keeps connections alive (one TLS handshake per client, not per call), drains
request bodies the application did not read, answers without Nagle's delay, and closes idle connections when
it stops."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any


def _connection(server: Any) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    return http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)


def _get(conn: http.client.HTTPSConnection, server: Any, path: str) -> http.client.HTTPResponse:
    conn.request("GET", path, headers={"Authorization": "Bearer " + server.token("org")})
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_serves_many_calls(sandbox_factory: Any) -> None:
    server = sandbox_factory({"org": "empty"})
    conn = _connection(server)
    first = _get(conn, server, "/services/data/v59.0/limits/")
    sock = conn.sock
    assert first.status == 200 and first.getheader("Connection") != "close"
    for _ in range(3):
        assert _get(conn, server, "/services/data/v59.0/limits/").status == 200
    assert conn.sock is sock, "the server closed the connection between calls"
    conn.close()


def test_an_unread_request_body_does_not_spill_into_the_next_call(sandbox_factory: Any) -> None:
    server = sandbox_factory({"org": "empty"})
    conn = _connection(server)
    body = json.dumps({"records": [{"Name": "x" * 5000}]})
    conn.request("POST", "/services/data/v59.0/no/such/resource", body=body,
                 headers={"Authorization": "Bearer " + server.token("org"), "Content-Type": "application/json"})
    refused = conn.getresponse()
    refused.read()
    assert refused.status == 404
    sock = conn.sock
    answer = _get(conn, server, "/services/data/v59.0/limits/")
    assert answer.status == 200 and conn.sock is sock
    conn.close()


def test_stop_closes_idle_connections(sandbox_factory: Any) -> None:
    server = sandbox_factory({"org": "empty"})
    conn = _connection(server)
    assert _get(conn, server, "/services/data/v59.0/limits/").status == 200
    sock = conn.sock
    server.stop()
    assert sock.recv(1) == b""   # the server closed it (no wait for the idle timeout)
    conn.close()


def test_answers_go_out_without_nagles_delay(sandbox_factory: Any) -> None:
    """An answer's headers and body are two writes: with Nagle on, the body waits for the client's delayed
    acknowledgement of the headers, about 40 ms a call on Linux (every small request a run makes)."""
    server = sandbox_factory({"org": "empty"})
    conn = _connection(server)
    assert _get(conn, server, "/services/data/v59.0/limits/").status == 200
    lock, connections = server._server.open_connections
    with lock:
        flags = [c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in connections]
    assert flags and all(flags), flags
    conn.close()
