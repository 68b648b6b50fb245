"""Chaos and hostile-input scenarios: the real CLI in subprocesses against the sandbox."""
