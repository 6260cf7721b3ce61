"""Correlation ids: an origin part and a hop sequence, ``7f3a9c2e_01 -> 7f3a9c2e_02``.

Searching the origin part finds the whole chain; the sequence orders its hops.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

_FORM = re.compile(r"^(?P<origin>[A-Za-z0-9-]{1,60})_(?P<seq>\d{2,})$")


def new_correlation_id() -> str:
    return f"{uuid.uuid4().hex[:12]}_01"


def origin(correlation_id: str) -> str:
    match = _FORM.match(correlation_id)
    return match.group("origin") if match else correlation_id


def sequence(correlation_id: str) -> int:
    match = _FORM.match(correlation_id)
    return int(match.group("seq")) if match else 0


def next_hop(correlation_id: str | None) -> str:
    """The id one hop further along the chain (a fresh chain when there is none)."""
    if not correlation_id:
        return new_correlation_id()
    match = _FORM.match(correlation_id)
    if not match:   # a foreign id: keep it as the origin and start counting
        return f"{correlation_id[:60]}_01"
    return f"{match.group('origin')}_{int(match.group('seq')) + 1:02d}"


def chain_filter(model: Any, correlation_id: str) -> Any:
    """SQL condition selecting every row of ``model`` (Event or Execution) in the chain of
    ``correlation_id``: an equality on the indexed ``correlation_origin`` column."""
    return model.correlation_origin == origin(correlation_id)
