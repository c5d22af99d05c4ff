"""``python -m newsletter``: the same as the ``newsletter`` command."""

import sys

from newsletter.frontends.cli import main

sys.exit(main())
