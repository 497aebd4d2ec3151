"""The check every ``restore`` makes first: is this a snapshot of mine, in a version I read?

A snapshot is a JSON-serialisable dict whose ``"kind"`` names the class that wrote it and
whose ``"version"`` numbers its layout. ``check_snapshot`` is the one place that compares
them, so every detector rejects a foreign or newer snapshot with the same clear message.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["check_snapshot"]


def check_snapshot(state: object, kind: str, versions: int | Collection[int]) -> None:
    """Raise ``ValueError`` unless ``state`` is a dict of ``kind`` in one of ``versions``.

    >>> check_snapshot({"kind": "ADWIN", "version": 1}, "ADWIN", 1)
    >>> check_snapshot({"kind": "PageHinkley", "version": 1}, "ADWIN", 1)
    Traceback (most recent call last):
    ...
    ValueError: cannot restore ADWIN: expected kind 'ADWIN' version 1, found kind 'PageHinkley' ...
    >>> check_snapshot({"kind": "SchemaTracker", "version": 3}, "SchemaTracker", (1, 2))
    Traceback (most recent call last):
    ...
    ValueError: cannot restore SchemaTracker: expected ... version 1 or 2, found ... version 3
    """
    readable = (versions,) if isinstance(versions, int) else tuple(versions)
    if isinstance(state, dict):
        found_kind, found_version = state.get("kind"), state.get("version")
        if found_kind == kind and found_version in readable:
            return
        found = f"found kind {found_kind!r} version {found_version!r}"
    else:
        found = f"found a {type(state).__name__}, not a dict"
    expected = " or ".join(map(str, readable))
    raise ValueError(f"cannot restore {kind}: expected kind {kind!r} version {expected}, {found}")
