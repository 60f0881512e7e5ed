"""What the sandbox's route modules share: :class:`Call`, the :data:`router` they register on, and
the JSON answers.

:mod:`.app` (the REST API and the WSGI application) and the other route modules (``bulk.py``,
``bulk1.py``, ``composite.py``, ``oauth.py``, ``replication.py``, ``soap.py``, ``tooling.py``)
import this module; :mod:`.app` imports the route modules so their routes are registered before
it serves. A handler reaches the application through :class:`App`, never by importing :mod:`.app`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from .errors import ApiError
from .faults import Faults
from .store import OrgStore

Handler = Callable[..., Any]


class App(Protocol):
    """What a handler may use of the application serving it (:class:`.app.SandboxApp`)."""

    orgs: dict[str, OrgStore]
    instance_url: str
    state: dict[str, Any]
    cursors: dict[str, tuple[list[dict[str, Any]], int, str]]
    cursor_lock: threading.Lock

    def org_for_token(self, token: str) -> tuple[str, OrgStore] | None: ...

    def alias_of(self, store: OrgStore) -> str: ...

    def dispatch(self, request: Request) -> Response: ...

    def page(self, records: list[dict[str, Any]], total: int, version: str, start: int = 0,
             key: str | None = None, tooling: bool = False) -> dict[str, Any]: ...


@dataclass
class Call:
    """One API request, after authentication: the org it is for and the parsed request."""

    request: Request
    store: OrgStore | None
    faults: Faults | None
    version: str
    app: App
    token: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.request.get_data(as_text=True) or "null")
        except json.JSONDecodeError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character at [line:{exc.lineno}, "
                           f"column:{exc.colno}]: {exc.msg}") from None

    @property
    def org(self) -> OrgStore:
        assert self.store is not None
        return self.store


@dataclass
class Route:
    """A handler and how it is called: behind authentication or not, counted against the API limit or not."""

    handler: Handler
    auth: bool
    counted: bool


@dataclass
class Router:
    """URL rules (werkzeug routing) mapped to handlers."""

    rules: list[Rule] = field(default_factory=list)
    handlers: dict[str, Route] = field(default_factory=dict)

    def route(self, rule: str, methods: list[str], *, auth: bool = True, counted: bool = True,
              versioned: bool = True) -> Callable[[Handler], Handler]:
        def wrap(func: Handler) -> Handler:
            endpoint = f"{func.__module__}.{func.__name__}"
            prefix = "/services/data/v<version>" if versioned else ""
            self.rules.append(Rule(prefix + rule, methods=methods, endpoint=endpoint, strict_slashes=False))
            self.handlers[endpoint] = Route(func, auth, counted)
            return func
        return wrap


router = Router()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def record_json(call: Call, obj_name: str, row: dict[str, Any], fields: list[str] | None = None,
                tooling: bool = False) -> dict[str, Any]:
    """``row`` as the REST API returns a record: ``attributes``, then ``fields`` (default: all of them)."""
    spec = call.org.object_spec(obj_name, tooling=tooling)
    assert spec is not None
    prefix = "tooling/sobjects" if tooling else "sobjects"
    out: dict[str, Any] = {"attributes": {"type": spec.name,
                                          "url": f"/services/data/v{call.version}/{prefix}/{spec.name}/{row['Id']}"}}
    names = fields or list(spec.fields)
    for name in names:
        fspec = spec.field(name)
        if fspec is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{spec.name}'. If you are "
                           "attempting to use a custom field, be sure to append the '__c' after the custom field "
                           "name. Please reference your WSDL or the describe call for the appropriate names.")
        value = row.get(fspec.name)
        if fspec.type == "base64" and isinstance(value, str):   # the blob's URL, in this request's version
            value = value.replace("{version}", call.version)
        out[fspec.name] = value
    return out
