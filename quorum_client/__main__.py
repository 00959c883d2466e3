"""`python -m quorum_client` is the `quorum` command."""

from quorum_client.cli import main

raise SystemExit(main())
