"""``python -m isyncsf_desktop`` starts the desktop app (the built app's entry point too).

The built app is also its own demo org server: ``<app> --serve-sandbox DIR`` (see :mod:`.embedded`)
serves the sandbox orgs without loading Qt.
"""

import sys

from isyncsf_desktop.embedded import serve_from_app_argv

served = serve_from_app_argv(sys.argv)
if served is not None:
    raise SystemExit(served)

from isyncsf_desktop.gui.app import main  # noqa: E402 - Qt only when the window is wanted

raise SystemExit(main())
