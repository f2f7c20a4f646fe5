"""`python -m hub` is the same as the `pingan-hub` command."""

from __future__ import annotations

import sys

from hub.cli import main

sys.exit(main())
