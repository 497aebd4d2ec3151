"""numba's disk cache for the scanner's compiled functions, fresh only while every module of
the scanner is unchanged.

numba keeps a function's machine code on disk (in ``__pycache__`` next to its module; in
``NUMBA_CACHE_DIR`` when that is set; in a user cache folder when the package folder is
read-only, as in some installs) and reuses it while the function's own source file is
unchanged. A compiled caller carries the code of the compiled functions it calls, though:
``json_scan``'s kernels hold ``json_tokens.number``, which holds
``decimal_float.decimal_to_float``, so a change to ``decimal_float`` alone would leave them
stale. ``compiled`` is ``numba.njit`` with a cache whose freshness stamp is numba's own
stamp of the function's file together with ``SOURCE_DIGEST``, a SHA-256 of every module of
this package: when any of them changes, every scanner function is compiled afresh, wherever
numba keeps the cache, and its stale entries are overwritten. ``tests/test_json_scan.py``
holds it to that: after a change to ``decimal_float.py`` alone, ``json_tokens.number`` gives
the new result where numba's own cache would give the old one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Final, TypeVar, cast

import numba
from numba.core.caching import CompileResultCacheImpl, FunctionCache
from numba.core.dispatcher import Dispatcher

__all__ = ["SOURCE_DIGEST", "ScannerCache", "compiled", "source_digest"]

_Function = TypeVar("_Function", bound=Callable[..., Any])


def source_digest(package: Traversable) -> str:
    """SHA-256 (hex) of the names and contents of the ``.py`` files directly in ``package``.

    >>> from pathlib import Path
    >>> scanner = Path(__file__).parent
    >>> source_digest(scanner) == SOURCE_DIGEST, len(SOURCE_DIGEST)
    (True, 64)
    """
    digest = hashlib.sha256()
    modules = sorted(
        (item for item in package.iterdir() if item.is_file() and item.name.endswith(".py")),
        key=lambda item: item.name,
    )
    for module in modules:
        content = module.read_bytes()
        digest.update(f"{module.name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


# importlib.resources reads the modules wherever the package is installed (zip included).
SOURCE_DIGEST: Final = source_digest(resources.files(__name__.rpartition(".")[0]))


class _DigestStamped:
    """numba's cache locator of a function (where its cache lives, how fresh it is), with
    ``SOURCE_DIGEST`` added to the freshness stamp that numba stores in the cache index and
    compares before loading anything from it."""

    def __init__(self, locator: Any) -> None:
        self._locator = locator

    def ensure_cache_path(self) -> None:
        self._locator.ensure_cache_path()

    def get_cache_path(self) -> str:
        return self._locator.get_cache_path()

    def get_source_stamp(self) -> tuple[Any, str]:
        return self._locator.get_source_stamp(), SOURCE_DIGEST

    def get_disambiguator(self) -> str:
        return self._locator.get_disambiguator()


class _ScannerCacheImpl(CompileResultCacheImpl):
    @property
    def locator(self) -> _DigestStamped:
        return _DigestStamped(super().locator)


class ScannerCache(FunctionCache):
    """numba's per-function disk cache, stale as soon as any scanner module changes."""

    _impl_class = _ScannerCacheImpl


def compiled(**options: Any) -> Callable[[_Function], _Function]:
    """``numba.njit(**options)`` with its code cached by ``ScannerCache``: the decorator of
    every compiled function of the scanner (instead of ``numba.njit(cache=True)``)."""

    def compile_lazily(function: _Function) -> _Function:
        dispatcher = numba.njit(**options)(function)
        if isinstance(dispatcher, Dispatcher):  # not a plain function (NUMBA_DISABLE_JIT)
            # Where ``cache=True`` puts its ``FunctionCache`` (``Dispatcher.enable_caching``).
            dispatcher._cache = ScannerCache(function)  # type: ignore[attr-defined]
        return cast(_Function, dispatcher)

    return compile_lazily
