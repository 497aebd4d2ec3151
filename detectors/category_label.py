"""How a decoded value becomes a category label: the one rule that training profiles and the
live decoder share, so that ``7``, ``7.0`` and ``"7"`` count as the same category in both.
"""

from __future__ import annotations

from typing import Any

__all__ = ["category_label"]


def category_label(value: Any) -> str | None:
    """The category string of a decoded value; None for null.

    >>> [category_label(v) for v in ("FR", True, 7, 7.0, 2.5, None)]
    ['FR', 'true', '7', '7', '2.5', None]
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
