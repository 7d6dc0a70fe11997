"""`python -m microgpt_spec` is the `microgpt-spec` command."""

import sys

from microgpt_spec.cli import main

sys.exit(main())
