"""`python -m orchestrator.cli`: the same as the `scaf-al` command."""

from orchestrator.cli.commands import main

raise SystemExit(main())
