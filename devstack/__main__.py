"""`python -m devstack` runs the CLI."""

from devstack.cli import main

raise SystemExit(main())
