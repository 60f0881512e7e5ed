"""The fix the check can apply itself: Enable Disabled Metadata (automation active on the source but
disabled on the target). The only part of the pre-flight package that writes to an org.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..automation import FixResult, set_active
from .context import PreflightOrg
from .report import FIX_ENABLE, Finding


def enable_disabled_metadata(target: PreflightOrg, findings: Iterable[Finding]) -> list[FixResult]:
    """Activate on ``target`` the automation the check found disabled there but active on the source.

    Only findings with ``data["fix"] == "enable"`` are used (other findings are ignored), once per
    item: validation rules get their full Metadata back with ``active: true``, flows their latest
    version activated, triggers ``status: Active``. A production org refuses triggers; that, like
    any refusal, is a result (``status`` ``refused``), never an exception.
    """
    results: list[FixResult] = []
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        if finding.data.get("fix") != FIX_ENABLE:
            continue
        item = finding.automation_item()
        if item is None or item.key in seen:
            continue
        seen.add(item.key)
        results.append(set_active(target, item, True, version=item.latest_version))
    return results
