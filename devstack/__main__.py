"""`python -m devstack` runs the CLI."""

from devstack.ui.cli import main

raise SystemExit(main())
