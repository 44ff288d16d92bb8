"""``python -m galaxybench`` runs the command line."""

import sys

from galaxybench.cli import main

sys.exit(main())
