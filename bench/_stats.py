"""Shared by the benchmarks: percentiles over a run's timings."""

from __future__ import annotations


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``, nearest rank: small samples stay honest."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
