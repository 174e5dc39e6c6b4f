"""Small helpers the benchmarks share."""
from __future__ import annotations


def percentile(values: list[float], pct: float) -> float:
    """The value at `pct` percent of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]
