"""``isyncsf``: the command line. Same engine as the app, headless.

Exit codes: 0 done; 1 the job or server failed; 2 bad input; 4 the target org is busy with another
job (the message names it); 75 (EX_TEMPFAIL) the run paused at the API-usage ceiling or because the
org's API limit ran out: nothing is lost, continue it later with ``isyncsf resync JOB``.
``isyncsf check`` exits 3 when something blocks a sync; ``isyncsf apply`` exits 3 when records changed since
the preview (they are listed) and 2 when the preview cannot be applied (the reasons are given).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__, paths
from .cli_common import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_PAUSED, Busy, NoKeyring, UsageError
EXIT_CHANGED = 3
"""``isyncsf apply``: records changed since the preview; re-run with --leave-out-changed, or preview them again."""
from .cli_common import journal as _journal
from .cli_common import registry as _registry
from .cli_preflight import add_parsers as add_preflight_parsers
from .engine.journal import JournalDamaged, JournalUnwritable
from .engine.lock import recover_interrupted

logger = logging.getLogger(__name__)


def _cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from .sandbox.server import DEFAULT_ORGS, SandboxError, parse_org_specs, serve

    try:
        orgs = parse_org_specs(args.org) if args.org else dict(DEFAULT_ORGS)
        data_dir = Path(args.data_dir) if args.data_dir else paths.sandbox_dir()
        return serve(data_dir, orgs, host=args.host, port=args.port, until_stdin_closes=args.until_stdin_closes)
    except SandboxError as exc:
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------------------------- orgs
def _require_keyring() -> None:
    from .salesforce.secrets import keyring_status

    usable, why = keyring_status()
    if not usable:
        reason = why.split(":")[0].rstrip(".")
        raise NoKeyring(f"no usable keyring ({reason}): isyncsf keeps tokens only in the OS keyring, never in a file. "
                        "Install or unlock one (Secret Service/KWallet on Linux, Keychain on macOS, Credential "
                        "Manager on Windows) or name a backend in PYTHON_KEYRING_BACKEND, then run this again.")


TOKEN_ENV = "ISYNCSF_ACCESS_TOKEN"
TOKEN_HELP = (f"the org's access token. Better left out: then it is read from ${TOKEN_ENV}, else from standard "
              "input (piped, or typed without echo); on the command line it shows in the process list and in "
              "your shell history")


def _access_token(args: argparse.Namespace) -> str:
    """The access token from ``--access-token``, ``$ISYNCSF_ACCESS_TOKEN`` or standard input (in that order)."""
    if args.access_token:
        print("note: a token on the command line is visible to other users in the process list and stays in your "
              f"shell history; pipe it on standard input or set {TOKEN_ENV} instead", file=sys.stderr)
        return str(args.access_token).strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        if sys.stdin is None:
            raise UsageError(f"no access token: set {TOKEN_ENV} or pipe it on standard input")
        if sys.stdin.isatty():
            import getpass

            token = getpass.getpass("access token (not shown): ").strip()
        else:
            token = sys.stdin.readline().strip()
    if not token:
        raise UsageError(f"no access token: pipe it on standard input, type it when asked, or set {TOKEN_ENV}")
    return token


def _cmd_org_add(args: argparse.Namespace) -> int:
    from .salesforce.client import OrgApiError
    from .salesforce.registry import RegistryError, register_token_org

    _require_keyring()
    try:
        entry = register_token_org(_registry(), args.alias, args.instance_url, _access_token(args),
                                   ca_file=args.ca_file)
    except (RegistryError, OrgApiError) as exc:
        raise UsageError(str(exc)) from None
    print(f"added org {entry.alias}: {entry.username} at {entry.instance_url} ({entry.org_type}, {entry.org_id})")
    return EXIT_OK


def _cmd_org_login(args: argparse.Namespace) -> int:
    """A new access token for an org already registered (expired or revoked token): same alias, same org."""
    from .salesforce.client import OrgApiError
    from .salesforce.registry import RegistryError, register_token_org

    _require_keyring()
    registry = _registry()
    try:
        old = registry.get(args.alias)
    except RegistryError as exc:
        raise UsageError(f"{exc}; add it first with `isyncsf org add {args.alias} ...`") from None
    try:
        entry = register_token_org(registry, args.alias, args.instance_url or old.instance_url, _access_token(args),
                                   ca_file=args.ca_file or old.ca_file, replace=True, expect_org_id=old.org_id)
    except (RegistryError, OrgApiError) as exc:
        raise UsageError(str(exc)) from None
    print(f"logged in to org {entry.alias} again: {entry.username} at {entry.instance_url}")
    return EXIT_OK


def _cmd_org_remove(args: argparse.Namespace) -> int:
    from .salesforce.registry import RegistryError

    try:
        _registry().remove(args.alias)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    print(f"removed org {args.alias} (its tokens are gone from the keyring; jobs in the journal are kept)")
    return EXIT_OK


def _cmd_org_list(args: argparse.Namespace) -> int:
    entries = _registry().list()
    if args.json:
        print(json.dumps([{"alias": e.alias, "org_id": e.org_id, "instance_url": e.instance_url,
                           "username": e.username, "org_type": e.org_type, "api_version": e.api_version,
                           "last_used": e.last_used} for e in entries], indent=2))
        return EXIT_OK
    if not entries:
        print(f"no orgs yet: add one with `isyncsf org add ALIAS --instance-url URL` (the token on standard input or "
              f"in ${TOKEN_ENV})")
        return EXIT_OK
    width = max(len(e.alias) for e in entries)
    for e in entries:
        print(f"{e.alias:<{width}}  {e.org_type:<13}  {e.username}  {e.instance_url}  {e.org_id}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- jobs
class _Progress:
    """A one-line progress display on a terminal (stderr); silent when not a terminal. It ends with the run's
    time left from the rate measured so far (``engine.eta``): ``about 3 min left``, ``estimating…`` until
    enough is measured. ``planned`` gives the records each object is expected to process in the job (asked
    once the run starts writing, when the scan has counted them); ``prior`` what each object took in the last
    sync of the same template to the same target (``engine.progress.times_before``), asked then too."""

    def __init__(self, enabled: bool, planned: Callable[[int], dict[str, int]] | None = None):
        from .engine.eta import Eta

        self.enabled = enabled
        self.planned = planned
        self.prior: Callable[[int], dict[str, Any]] | None = None
        self.line = ""
        self.eta = Eta()
        self._planned_set = False
        self.running: dict[str, tuple[int, int]] = {}   # objects under way -> (place in the order, objects)
        self.ended: set[str] = set()
        self._lock = threading.Lock()     # events come from each object's thread when several run at once

    def __call__(self, event: object) -> None:
        with self._lock:
            self._take(event)

    def _take(self, event: object) -> None:
        from .engine.eta import describe_left
        from .engine.events import BatchDone, Event, Notice, ObjectFinished, ObjectStarted, StateChanged
        from .engine.lifecycle import JobState

        if isinstance(event, Notice):
            self._print(f"note: {event.text}")
        if not self.enabled:
            return
        if isinstance(event, StateChanged) and not self._planned_set and self.planned is not None \
                and event.state in (JobState.SYNC_IN_PROGRESS, JobState.ROLLBACK_STARTED):
            self.eta.set_planned(self.planned(event.job_id))
            if self.prior is not None:
                self.eta.use_prior(self.prior(event.job_id))
            self._planned_set = True
        if isinstance(event, Event):
            self.eta.observe(event)
        if isinstance(event, ObjectStarted):
            self.running = {name: at for name, at in self.running.items() if name not in self.ended}
            self.running[event.object] = (event.index, event.count)
        if isinstance(event, ObjectFinished):       # the last one under way stays named until the next starts
            self.ended.add(event.object)
            if len(self.running) > 1:
                self.running.pop(event.object, None)
        if isinstance(event, BatchDone):
            running = dict(self.running) or {event.object: (1, 1)}
            # one object at a time: its own counts; several at once (parallel_objects): theirs added up
            c = event.counts if len(running) == 1 else event.totals
            names = ", ".join(running)
            places = ",".join(str(index) for index, _count in running.values())
            count = next(iter(running.values()))[1]
            done = c.processed / c.total if c.total else 1.0
            bar = "#" * int(done * 24)
            self._draw(f"[{places}/{count}] {names:<18} [{bar:<24}] {done:4.0%}  ins {c.inserted}  upd {c.updated}  "
                       f"same {c.existing}  err {c.errors}  {event.elapsed:6.1f}s  "
                       f"{describe_left(self.eta.remaining().total)}")
        if isinstance(event, StateChanged) and event.state not in (JobState.SYNC_IN_PROGRESS,
                                                                   JobState.ROLLBACK_STARTED):
            self._draw("")

    def _draw(self, text: str) -> None:
        sys.stderr.write("\r" + text.ljust(len(self.line)))
        if not text:
            sys.stderr.write("\r")
        sys.stderr.flush()
        self.line = text

    def _print(self, text: str) -> None:
        if self.enabled and self.line:
            self._draw("")
        print(text, file=sys.stderr)


def _engine(source_alias: str, target_alias: str, observer: object):  # noqa: ANN202
    from .engine.journal import Journal, OrgRef
    from .engine.runner import SyncEngine
    from .salesforce.registry import RegistryError

    registry = _registry()
    try:
        src, tgt = registry.get(source_alias), registry.get(target_alias)
        source, target = registry.client(source_alias), registry.client(target_alias)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    journal = Journal(paths.journal_path())
    recover_interrupted(journal, paths.lock_dir())
    registry.touch(source_alias)
    registry.touch(target_alias)
    return SyncEngine(journal, source, target, OrgRef(src.alias, src.org_id, src.instance_url),
                      OrgRef(tgt.alias, tgt.org_id, tgt.instance_url), observer=observer)  # type: ignore[arg-type]


def _report(result: object, as_json: bool) -> int:
    from .engine.events import FAILED
    from .engine.lifecycle import RunKind

    data = result.as_json()  # type: ignore[attr-defined]
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        print(f"job {data['job_id']}: {data['state']} ({data['status']})" +
              (f": {data['message']}" if data.get("message") else ""))
        extra = ("deleted", "restored") if data["kind"] == RunKind.ROLLBACK else ()
        cols = ("records",) if data["kind"] == RunKind.SCAN else ("inserted", "updated", "existing", "errors") + extra
        if data.get("order"):
            print(f"  migration order: {' -> '.join(data['order'])}")
        width = max([len(r["object"]) for r in data["objects"]] + [6])
        print(f"  {'object':<{width}}  " + "  ".join(f"{c:>8}" for c in cols))
        for row in data["objects"] + [{"object": "total", **data["totals"]}]:
            print(f"  {row['object']:<{width}}  " + "  ".join(f"{row.get(c, 0):>8}" for c in cols))
        if data.get("masked"):
            print("  masked: " + ", ".join(f"{name} {count}" for name, count in data["masked"].items()))
    from .engine.events import PAUSED

    if result.status == PAUSED:  # type: ignore[attr-defined]
        return EXIT_PAUSED
    return EXIT_FAILED if result.status == FAILED else EXIT_OK  # type: ignore[attr-defined]


def _cmd_run(args: argparse.Namespace) -> int:
    from .engine.lifecycle import RunKind
    from .engine.progress import scanned_counts, times_before
    from .engine.runner import EngineError, TargetBusyError
    from .engine.template import TemplateError, load_template
    from .salesforce.client import OrgApiError

    try:
        template = load_template(args.template)
        if args.since:   # a delta run from this date/time instead of the template's last successful sync
            from .engine.template import parse_since

            template.options["delta_sync"] = True
            template.options["since"] = parse_since(args.since, "--since")
        progress = _Progress(sys.stderr.isatty() and not args.json)
        engine = _engine(args.source, args.target, progress)
        progress.planned = lambda job_id: scanned_counts(engine.journal, job_id)
        progress.prior = lambda job_id: times_before(engine.journal, job_id)
        if args.command == RunKind.SYNC:     # the metadata check, then a new job, then scan and sync
            result = _preflight_gate(engine, template, args.override_preflight)
        else:
            result = engine.run(RunKind.SCAN, engine.create_job(template))
    except TargetBusyError as exc:
        raise Busy(str(exc)) from None
    except (TemplateError, EngineError) as exc:
        raise UsageError(str(exc)) from None
    except OrgApiError as exc:   # only the metadata check lets one out (a run reports it): no job was created
        print(f"error: the metadata check could not read the orgs: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _report(result, args.json)


def _cmd_preview(args: argparse.Namespace) -> int:
    """``isyncsf preview``: what a sync of the template would do, record by record; nothing is written."""
    from .engine.preflight import Finding, PreflightBlocked
    from .engine.runner import EngineError
    from .engine.template import TemplateError, load_template
    from .salesforce.client import OrgApiError

    folder = Path(args.csv) if args.csv else None
    if folder is not None:
        from .engine.export import check_folder

        try:
            check_folder(folder, "the preview")
        except OSError as exc:
            raise UsageError(str(exc)) from None

    def note(overridden: list[Finding]) -> None:
        for finding in overridden:
            print(f"note: previewing despite a blocking finding: {finding.message}", file=sys.stderr)

    try:
        template = load_template(args.template)
        if args.since:
            from .engine.template import parse_since

            template.options["delta_sync"] = True
            template.options["since"] = parse_since(args.since, "--since")
        engine = _engine(args.source, args.target, _Progress(False))
        only = None
        if args.only_changed_of is not None:    # just the records of that preview that changed since (or left out)
            only = engine.to_preview_again(args.only_changed_of)
            if not only:
                print(f"no record of preview #{args.only_changed_of} changed since it: apply it with "
                      f"`isyncsf apply {args.only_changed_of}`")
                return EXIT_OK
        result = engine.preview(template, override_preflight=args.override_preflight, on_overridden=note, only=only)
    except PreflightBlocked as blocked:
        found = "; ".join(f.message.rstrip(".") for f in blocked.findings)
        raise UsageError(f"the sync this previews cannot start, the metadata check blocks it: {found}. Fix "
                         f"{'it' if len(blocked.findings) == 1 else 'them'} (see `isyncsf check`), or pass "
                         "--override-preflight.") from None
    except (TemplateError, EngineError) as exc:
        raise UsageError(str(exc)) from None
    except OrgApiError as exc:
        print(f"error: the preview could not read the orgs: {exc}", file=sys.stderr)
        return EXIT_FAILED
    data = result.as_json()
    if folder is not None and result.status == "Completed":
        from .engine.preview_export import export_preview_csv

        try:
            files = export_preview_csv(engine.journal, result.preview_id, folder)
        except OSError as exc:
            raise UsageError(str(exc)) from None
        data["csv"] = {name: str(path) for name, (path, _) in files.items()}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        _print_preview(data)
    if result.status != "Completed":
        if not args.json:
            print(f"error: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_apply(args: argparse.Namespace) -> int:
    """``isyncsf apply PREVIEW_ID``: a new sync job that writes what the preview showed, and nothing else."""
    from .engine.journal import JournalError
    from .engine.preflight import PreflightBlocked
    from .engine.runner import EngineError, PreviewRefused, TargetBusyError
    from .engine.template import TemplateError
    from .salesforce.client import OrgApiError

    def refused(reasons: list[str]) -> int:
        if args.json:
            print(json.dumps({"preview_id": args.preview_id, "ok": False, "refusals": reasons}, indent=2))
        for reason in reasons:
            print(f"error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        try:
            preview = _journal().preview(args.preview_id)
        except JournalError:
            return refused([f"There is no preview #{args.preview_id} in the journal: `isyncsf previews` lists the "
                            "previews there are."])
        args.command = "apply"
        current = _current_template(args, preview.template_name)
        progress = _Progress(sys.stderr.isatty() and not args.json)
        engine = _engine(preview.source.alias, preview.target.alias, progress)
        check = engine.check_preview(args.preview_id, current=current)  # type: ignore[arg-type]
        if not check.ok:
            return refused(check.refusals)
        if check.changed and not args.leave_out_changed:
            if args.json:
                print(json.dumps(check.as_json(), indent=2))
            else:
                print(f"{len(check.changed)} record(s) changed since preview #{args.preview_id}:")
                for record in check.changed:
                    print(f"  {record.object}  {record.label}  ({record.where}: {record.detail})")
            print(f"error: {len(check.changed)} record(s) changed since preview #{args.preview_id}, and none is "
                  f"written blind: re-run with --leave-out-changed to apply the rest, or preview them again "
                  f"(`isyncsf preview --source {preview.source.alias} --target {preview.target.alias} --template FILE "
                  f"--only-changed-of {args.preview_id}`).", file=sys.stderr)
            return EXIT_CHANGED
        result = engine.apply_preview(args.preview_id, current=current,  # type: ignore[arg-type]
                                      leave_out=[(c.object, c.source_id) for c in check.changed])
    except PreviewRefused as exc:
        return refused(exc.reasons)
    except PreflightBlocked as blocked:
        raise UsageError(f"{blocked} Fix them (see `isyncsf check`), then apply again.") from None
    except TargetBusyError as exc:
        raise Busy(str(exc)) from None
    except (TemplateError, EngineError) as exc:
        raise UsageError(str(exc)) from None
    except OrgApiError as exc:
        print(f"error: the orgs could not be read to check the preview: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _report(result, args.json)


def _cmd_previews(args: argparse.Namespace) -> int:
    """``isyncsf previews``: the previews in the journal, newest first, with the job that applied each."""
    previews = _journal().previews()
    if args.json:
        print(json.dumps([{"preview_id": p.id, "status": p.status, "created": p.created, "source": p.source.alias,
                           "target": p.target.alias, "template": p.template_name, "job_id": p.job_id,
                           "totals": p.header.get("totals", {})} for p in previews], indent=2))
        return EXIT_OK
    if not previews:
        print("no previews yet")
    for p in previews:
        applied = f"  applied as job {p.job_id}" if p.job_id is not None else ""
        print(f"{p.id:>5}  {p.created}  {p.status:<9}  {p.source.alias} -> {p.target.alias}  "
              f"{p.template_name}{applied}")
    return EXIT_OK


def _print_preview(data: dict) -> None:  # type: ignore[type-arg]
    print(f"preview {data['preview_id']}: {data['status']} (nothing was written to either org)")
    cols = ("total", "insert", "update", "unchanged", "skip")
    width = max([len(r["object"]) for r in data["objects"]] + [6])
    print(f"  {'object':<{width}}  " + "  ".join(f"{c:>9}" for c in cols))
    for row in data["objects"] + [{"object": "total", **data["totals"]}]:
        print(f"  {row['object']:<{width}}  " + "  ".join(f"{row.get(c, 0):>9}" for c in cols))
    deferred = data["totals"].get("deferred_updates", 0)
    if deferred:
        print(f"  {deferred} record(s) get a lookup in the second pass")
    calls = data.get("api_calls") or {}
    if calls:
        src, tgt = calls["source"], calls["target"]
        bulk = f", {tgt['bulk_jobs']} Bulk job(s)" if tgt.get("bulk_jobs") else ""
        print(f"  API calls the sync will cost: source {src['total']} ({src['reads']} reads), target {tgt['total']} "
              f"({tgt['reads']} reads, {tgt['writes']} writes{bulk})")
    for side, share in (data.get("api_share") or {}).items():
        print(f"  {side}: {share['calls']} call(s), {_share_text(share)} of the {share['remaining']:,} daily API "
              f"requests it has left ({share['used']:,} of {share['max']:,} used)")
    if data.get("estimate"):
        from .engine.estimate import range_text

        print(f"  estimated time of the sync: {range_text(data['estimate'])}")
    for share in (data.get("api_share") or {}).values():
        if share.get("warning"):
            print(f"  warning: {share['warning']}")
    if data.get("files_note"):
        print(f"  {data['files_note']}")
    for name, path in (data.get("csv") or {}).items():
        print(f"  {name}: {path}")


def _share_text(share: dict) -> str:  # type: ignore[type-arg]
    """"12.5%" of an org's remaining requests (all of them when it has none left)."""
    return "all" if share.get("percent") is None else f"{share['percent']}%"


def _preflight_gate(engine: object, template: object, override: bool) -> object:
    """A new sync (``SyncEngine.start_sync``, as the Execute tab starts it): it does not start while the
    metadata check finds a blocking problem, unless overridden (each overridden finding is noted)."""
    from .engine.preflight import Finding, PreflightBlocked

    def note(overridden: list[Finding]) -> None:
        for finding in overridden:
            print(f"note: starting despite a blocking finding: {finding.message}", file=sys.stderr)

    try:
        return engine.start_sync(template, override_preflight=override,  # type: ignore[attr-defined]
                                 on_overridden=note)
    except PreflightBlocked as blocked:
        raise UsageError(f"{blocked} Fix them (see `isyncsf check`), or pass --override-preflight.") from None


def _cmd_job(args: argparse.Namespace) -> int:
    from .engine.journal import JournalError
    from .engine.progress import planned_records
    from .engine.lifecycle import RunKind
    from .engine.runner import EngineError, TargetBusyError
    from .engine.template import TemplateError

    try:
        job = _journal().job(args.job_id)
        current = _current_template(args, job.template_name)
        progress = _Progress(sys.stderr.isatty() and not args.json)
        engine = _engine(job.source.alias, job.target.alias, progress)
        progress.planned = lambda job_id: planned_records(engine.journal, job_id, args.command)
        result = engine.run(RunKind(args.command), args.job_id, current=current)
    except TargetBusyError as exc:
        raise Busy(str(exc)) from None
    except (JournalError, EngineError, TemplateError) as exc:
        raise UsageError(str(exc)) from None
    return _report(result, args.json)


def _current_template(args: argparse.Namespace, name: str) -> object:
    """For a resync or retry: the job's template as saved now (``--template``, else the app's template of
    that name), whose settings of how records are written the run applies; None: the job's own."""
    from .engine.run.settings import saved_template
    from .engine.template import load_template

    if getattr(args, "template", None):
        return load_template(args.template)
    if args.command == "rollback":
        return None
    found = saved_template(name)
    return found[0] if found else None


def _cmd_jobs(args: argparse.Namespace) -> int:
    journal = _journal()
    recover_interrupted(journal, paths.lock_dir())
    jobs = journal.jobs()
    if args.json:
        print(json.dumps([{"job_id": j.id, "state": j.state, "created": j.created, "source": j.source.alias,
                           "target": j.target.alias, "template": j.template_name,
                           "interrupted": j.interrupted, "run_by": j.run_by, "preview_id": j.preview_id,
                           "masked": journal.masked_counts(job_id=j.id)} for j in jobs], indent=2))
        return EXIT_OK
    if not jobs:
        print("no jobs yet")
    for j in jobs:
        flag = "  (interrupted: resync or rollback it)" if j.interrupted else ""
        print(f"{j.id:>5}  {j.created}  {j.state:<18}  {j.source.alias} -> {j.target.alias}  {j.template_name}{flag}")
    return EXIT_OK


def _cmd_errors(args: argparse.Namespace) -> int:
    from .engine.export import export_errors_csv
    from .engine.journal import JournalError

    journal = _journal()
    try:
        job = journal.job(args.job_id)
        if args.object:
            known = list((job.plan or {}).get("order") or []) or [line["object"] for line in job.template["objects"]]
            if args.object.lower() not in {name.lower() for name in known}:
                raise UsageError(f"job {args.job_id} has no object {args.object!r}; its objects: {', '.join(known)}")
            args.object = next(name for name in known if name.lower() == args.object.lower())
        rows = export_errors_csv(journal, args.job_id, Path(args.csv), args.object)
    except (JournalError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {rows} error row(s) to {args.csv}")
    return EXIT_OK


def _template_name(spec: str) -> str:
    """The template a ``mask-secret`` command means: a template file, else the name of a template."""
    from .engine.template import TemplateError, load_template

    if spec.lower().endswith(".json") or Path(spec).is_file():
        try:
            return load_template(spec).name
        except TemplateError as exc:
            raise UsageError(str(exc)) from None
    return spec.strip()


def _cmd_mask_secret(args: argparse.Namespace) -> int:
    """Export or import a template's masking secret (engine/masking.py): never on the command line."""
    from .engine.masking import export_secret, import_secret

    _require_keyring()
    name = _template_name(args.template)
    if args.action == "export":
        text = export_secret(name)
        print(f"warning: this is the masking secret of template {name!r}: whoever has it (and the source data) can "
              "tell which masked value belongs to which source value. Share it only over a safe channel.",
              file=sys.stderr)
        if args.file:
            target = Path(args.file)
            paths.atomic_write_text(target, text + "\n")
            try:
                os.chmod(target, 0o600)
            except OSError:   # some file systems keep no permissions: the warning above still holds
                pass
            print(f"wrote the masking secret of {name!r} to {args.file}", file=sys.stderr)
        else:
            print(text)
        return EXIT_OK
    if args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    elif sys.stdin is None:
        raise UsageError("no secret: pipe it on standard input or pass --file")
    elif sys.stdin.isatty():
        import getpass

        text = getpass.getpass("masking secret (not shown): ")
    else:
        text = sys.stdin.readline()
    try:
        import_secret(name, text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"the masking secret of {name!r} is in the keyring: masked values now match those of whoever exported it",
          file=sys.stderr)
    return EXIT_OK


def _cmd_journal_move_aside(args: argparse.Namespace) -> int:
    from .engine.journal import Journal, JournalDamaged, move_aside

    path = paths.journal_path()
    if not path.exists():
        print(f"there is no journal at {path}: the next command starts a new one")
        return EXIT_OK
    try:
        Journal(path).close()
    except JournalDamaged as exc:
        print(f"{exc.what}: moved to {move_aside(path)}; the next command starts a new journal")
        return EXIT_OK
    raise UsageError(f"the journal {path} is readable; it was not moved (its jobs stay listed)")


def build_parser() -> argparse.ArgumentParser:
    from .engine.lifecycle import RunKind

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
    serve.add_argument("--until-stdin-closes", action="store_true",
                       help="also stop when standard input ends (a parent process holding the pipe quits or dies)")
    serve.set_defaults(func=_cmd_sandbox_serve)

    org = sub.add_parser("org", help="orgs the app knows (tokens live in the OS keyring)")
    org_sub = org.add_subparsers(dest="org_command", metavar="ACTION")
    add = org_sub.add_parser("add", help="add an org from an instance URL and an access token")
    add.add_argument("alias")
    add.add_argument("--instance-url", required=True)
    add.add_argument("--access-token", help=TOKEN_HELP)
    add.add_argument("--ca-file", help="a CA certificate to trust (the sandbox's ca.pem)")
    add.set_defaults(func=_cmd_org_add)
    login = org_sub.add_parser("login", help="give an org already added a new access token (expired or revoked)")
    login.add_argument("alias")
    login.add_argument("--access-token", help=TOKEN_HELP)
    login.add_argument("--instance-url", help="default: the URL the org was added with")
    login.add_argument("--ca-file", help="default: the CA file the org was added with")
    login.set_defaults(func=_cmd_org_login)
    remove = org_sub.add_parser("remove", help="forget an org and delete its tokens from the keyring")
    remove.add_argument("alias")
    remove.set_defaults(func=_cmd_org_remove)
    lst = org_sub.add_parser("list", help="list the orgs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_cmd_org_list)

    for name, text in ((RunKind.SCAN, "plan a template and count its records"), (RunKind.SYNC, "run a template")):
        run = sub.add_parser(name, help=text)
        run.add_argument("--source", required=True, help="source org alias")
        run.add_argument("--target", required=True, help="target org alias")
        run.add_argument("--template", required=True, help="template JSON file")
        run.add_argument("--json", action="store_true", help="print one JSON object")
        run.add_argument("--since", metavar="DATE",
                         help="delta: only records changed after this ISO date/time (default with the template's "
                              "delta sync on: its last successful sync); deletions are not propagated")
        if name == RunKind.SYNC:
            run.add_argument("--override-preflight", action="store_true",
                             help="start even when the metadata check finds blocking problems")
        run.set_defaults(func=_cmd_run)
    for name, text in ((RunKind.RESYNC, "run a job again: what failed or was skipped"),
                       (RunKind.RETRY, "re-send only the records that failed"),
                       (RunKind.ROLLBACK, "delete what a job inserted and restore what it updated")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("job_id", type=int)
        cmd.add_argument("--json", action="store_true")
        if name != RunKind.ROLLBACK:
            cmd.add_argument("--template", metavar="FILE",
                             help="the job's template as saved now (default: the app's template of that name): "
                                  "its settings of how records are written (automation off, batch size, Bulk) apply")
        cmd.set_defaults(func=_cmd_job)
    preview = sub.add_parser("preview", help="what a sync of a template would do, record by record (writes nothing)",
                             description="Read both orgs and say what `isyncsf sync` of the template would do to "
                             "each record: insert, update (which fields, from what to what), unchanged, or not "
                             "going (and why), and the API calls the sync will cost. Nothing is written to either "
                             "org; the rows are kept in the journal.")
    preview.add_argument("--source", required=True, help="source org alias")
    preview.add_argument("--target", required=True, help="target org alias")
    preview.add_argument("--template", required=True, help="template JSON file")
    preview.add_argument("--json", action="store_true", help="print one JSON object (counts, API calls)")
    preview.add_argument("--csv", metavar="DIR",
                         help="also write one CSV file per object into this folder (a line per field that changes)")
    preview.add_argument("--since", metavar="DATE", help="delta: only records changed after this ISO date/time")
    preview.add_argument("--override-preflight", action="store_true",
                         help="preview even when the metadata check finds blocking problems")
    preview.add_argument("--only-changed-of", type=int, metavar="PREVIEW_ID",
                         help="preview just the records of that preview that changed since it (or that applying "
                              "it left out)")
    preview.set_defaults(func=_cmd_preview)
    apply = sub.add_parser("apply", help="apply a preview: a sync that writes what the preview showed, nothing else",
                           description="Start a new sync job of the preview's template that writes exactly the "
                           "records the preview showed, with the values it showed. A preview the template or the "
                           "orgs' metadata changed since is refused (exit 2, with the reasons); records that changed "
                           "since the preview are listed and nothing is written (exit 3) unless "
                           "--leave-out-changed.")
    apply.add_argument("preview_id", type=int)
    apply.add_argument("--leave-out-changed", action="store_true",
                       help="apply the rest, leaving out the records that changed since the preview")
    apply.add_argument("--template", metavar="FILE",
                       help="the template as saved now (default: the app's template of that name): the preview is "
                            "refused when it differs from the one the preview ran")
    apply.add_argument("--json", action="store_true", help="print one JSON object")
    apply.set_defaults(func=_cmd_apply)
    previews = sub.add_parser("previews", help="list previews (and the job that applied each)")
    previews.add_argument("--json", action="store_true")
    previews.set_defaults(func=_cmd_previews)
    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=_cmd_jobs)
    errors = sub.add_parser("errors", help="export a job's errors to CSV")
    errors.add_argument("job_id", type=int)
    errors.add_argument("--csv", required=True, help="file to write")
    errors.add_argument("--object", help="only this object's errors")
    errors.set_defaults(func=_cmd_errors)
    mask = sub.add_parser("mask-secret", help="export or import a template's masking secret (kept in the OS keyring)")
    mask.add_argument("action", choices=("export", "import"))
    mask.add_argument("template", help="the template file, or the name of a template")
    mask.add_argument("--file", help="export: write it to this file (else standard output); import: read it from "
                                     "this file (else standard input, typed without echo when a terminal)")
    mask.set_defaults(func=_cmd_mask_secret)
    journal = sub.add_parser("journal", help="the job journal")
    journal_sub = journal.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    journal_sub.add_parser("move-aside", help="rename a damaged journal (kept, never deleted) so a new one "
                           "starts").set_defaults(func=_cmd_journal_move_aside)

    add_preflight_parsers(sub)
    return parser


class _WithoutTraceback(logging.Formatter):
    """The console's log lines without tracebacks: the command's own error already says what happened and
    what to do; ``-v`` shows the traceback too."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter((logging.Formatter if args.verbose else _WithoutTraceback)(
        "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NoKeyring as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Busy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except (JournalDamaged, JournalUnwritable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.DatabaseError as exc:     # damage found past the first pages, or a disk that fails
        print(f"error: the job journal {paths.journal_path()} could not be read: {str(exc).rstrip('. ')}. If it is damaged, "
              "`isyncsf journal move-aside` keeps it and starts a new one", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
