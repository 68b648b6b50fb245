"""Facts about this host that the state stores report: whether a process runs here."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host."""
    try:
        # Signal 0 sends nothing: the kernel only checks that the process exists and may be
        # signalled. A lock's message says by it whether its holder on this host still runs: one
        # that does not left the lock behind, and 'state unlock' is safe.
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True
