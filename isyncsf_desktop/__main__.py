"""``python -m isyncsf_desktop`` starts the desktop app."""

from isyncsf_desktop.gui.app import main

raise SystemExit(main())
