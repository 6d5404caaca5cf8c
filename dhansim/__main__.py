"""``python -m dhansim``: run the simulator in the foreground (see ``dhansim.cli``)."""

import sys

from dhansim.cli import main

sys.exit(main())
