"""Benchmarks of voiceid-reconciler: they print ratios measured side by side, never assert times."""
