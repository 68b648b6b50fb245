"""``python -m reconciler``: the same as the ``voiceid-reconciler`` command."""

import sys

from reconciler.cli import entrypoint

sys.exit(entrypoint())
