"""``python -m worker.ops.cli``: the same ``targetsms`` command."""

import sys

from worker.ops.cli.entry import main

sys.exit(main())
