"""Numbers read back from Redis hash fields: anything absent, unparsable or infinite is 0."""

from __future__ import annotations

import math

__all__ = ["is_bound", "stored_float"]


def stored_float(value: str | None) -> float:
    try:
        number = float(value or 0)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def is_bound(text: str) -> bool:
    """A finite histogram bucket bound (``+Inf`` and junk are not)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
