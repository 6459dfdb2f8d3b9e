"""Every cache the package keeps, registered in one place.

Each cache is bounded and safe under threads, and `clear_caches` empties
all of them (with the compiled functions they hold). Modules create their caches
here -- `Cache` for a dictionary, `lru` for a function -- so nothing
is cached that this module does not know about.
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: name -> function that empties the cache.
_REGISTRY: dict[str, Callable[[], None]] = {}


def _register(name: str, clear: Callable[[], None]) -> None:
    if name in _REGISTRY:
        raise ValueError(f"caches: a cache named {name!r} is registered already.")
    _REGISTRY[name] = clear


class Cache:
    """A bounded mapping: at ``maxsize`` entries the oldest is dropped.

    Reads take no lock (a dict read is atomic in CPython); writes and clears do.
    """

    def __init__(self, name: str, maxsize: int):
        self.name, self.maxsize = name, maxsize
        self._data: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        _register(name, self.clear)

    def get(self, key: Any, default: Any = None) -> Any:
        return self._data.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Any) -> bool:
        return key in self._data


def lru(name: str, maxsize: int | None) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)`` (thread-safe), registered under ``name``."""

    def wrap(fn: F) -> F:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _register(name, cached.cache_clear)
        return cached  # type: ignore[return-value]

    return wrap


def register_jit(name: str, fn: Any) -> Any:
    """Registers a module-level ``jax.jit`` function whose compiled executables
    `clear_caches` should drop; returns ``fn``."""
    _register(name, fn.clear_cache)
    return fn


def names() -> list[str]:
    """The registered caches, sorted."""
    return sorted(_REGISTRY)


def clear_caches() -> None:
    """Empties every cache jax_inits keeps, and the jax-compiled functions it owns.

    Later calls check, trace and compile again, with the same results. Use it
    between tests, or to release memory held by executables of shapes no longer
    used. It does not touch jax's own caches (``jax.clear_caches()`` does).

    Examples:
      >>> jax_inits.he_normal()(jax.random.key(0), (4, 4)).shape
      (4, 4)
      >>> jax_inits.clear_caches()
      >>> jax_inits.he_normal()(jax.random.key(0), (4, 4)).shape
      (4, 4)
    """
    for clear in list(_REGISTRY.values()):
        clear()
