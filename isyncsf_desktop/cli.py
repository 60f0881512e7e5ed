"""``isyncsf``: the command line. Same engine as the app, headless.

Exit codes: 0 done, 1 the job or server failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, paths

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as ``error: ...`` with exit code 2."""


def _cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from .sandbox.server import DEFAULT_ORGS, SandboxError, parse_org_specs, serve

    try:
        orgs = parse_org_specs(args.org) if args.org else dict(DEFAULT_ORGS)
        data_dir = Path(args.data_dir) if args.data_dir else paths.sandbox_dir()
        return serve(data_dir, orgs, host=args.host, port=args.port)
    except SandboxError as exc:
        raise UsageError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isyncsf", description="Copy Salesforce records between orgs, "
                                     "keep every relationship, and undo it.")
    parser.add_argument("--version", action="version", version=f"isyncsf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = sub.add_parser("sandbox", help="the local Salesforce-compatible org server")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION")
    serve = sandbox_sub.add_parser("serve", help="serve sandbox orgs over HTTPS on loopback until stopped")
    serve.add_argument("--data-dir", help="where the org databases and the CA live (default: the app's data dir)")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument("--org", action="append", metavar="ALIAS=SEED",
                       help="an org to serve (repeatable); seeds: demo-source, demo-target, empty. "
                            "Default: source=demo-source target=demo-target")
    serve.set_defaults(func=_cmd_sandbox_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
