"""Run the scaffold command as ``python -m quicksand_overlay_scaffold``."""

import sys

from quicksand_overlay_scaffold.cli import main

sys.exit(main())
