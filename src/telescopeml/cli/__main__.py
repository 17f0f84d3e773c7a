"""``python -m telescopeml.cli``: the ``telescopeml`` command."""

import sys

from telescopeml.cli import main

sys.exit(main())
