"""The shape of demand over a scenario's window: equal slices weighted by a profile."""

from __future__ import annotations


def slices(begin: float, end: float, profile: list[float]) -> list[tuple[float, float, float]]:
    """(begin, end, factor) of each equal slice of the window that a profile describes.

    Factors are the profile normalised to mean 1: a slice's rate is the demand's
    ``vehicles_per_hour`` times its factor, and the window's total stays the same.
    """
    width = (end - begin) / len(profile)
    mean = sum(profile) / len(profile)
    return [(begin + i * width, begin + (i + 1) * width, w / mean) for i, w in enumerate(profile)]
