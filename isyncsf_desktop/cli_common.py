"""What the ``isyncsf`` commands share: exit codes, the errors ``main`` turns into them, the org
registry and the journal.

:mod:`isyncsf_desktop.cli` and :mod:`isyncsf_desktop.cli_preflight` both import from here, and
neither imports the other's private names. Heavy modules are imported inside the functions to
keep ``isyncsf --help`` fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    from .engine.journal import Journal
    from .salesforce.registry import OrgRegistry

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY, EXIT_PAUSED = 0, 1, 2, 4, 75


class UsageError(Exception):
    """Bad input from the user: printed as ``error: ...`` with exit code 2."""


class NoKeyring(Exception):
    """The command would need to remember a secret and there is no usable keyring (exit 1)."""


class Busy(Exception):
    """The target org is busy with another job (exit 4)."""


def registry() -> OrgRegistry:
    """The user's org registry."""
    from .salesforce.registry import OrgRegistry

    return OrgRegistry()


def journal() -> Journal:
    """The journal of every job, in the user data dir."""
    from .engine.journal import Journal

    return Journal(paths.journal_path())
