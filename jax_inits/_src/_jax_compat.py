"""The only module that touches private jax API.

Each private name comes with the public fallback used when a jax release no
longer has it; ``tests/test_jax_compat.py`` runs the core call cases with every
private name hidden, so the fallbacks are exercised too.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

try:  # private, stable since jax 0.4: whether no transformation is tracing this thread
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:  # pragma: no cover - exercised by hiding it in tests
    _trace_state_clean = None


def top_level() -> bool:
    """Whether a call runs eagerly: no jit, vmap, grad, eval_shape, ... is tracing.

    Fallback without the private check: every call counts as traced, which is
    always correct (the traced path is the definition) but skips the eager
    caches.
    """
    return _trace_state_clean is not None and _trace_state_clean()


#: The private attribute of ``jax.Array`` that says whether it is committed.
_COMMITTED = "_committed"


def is_committed(x: Any) -> bool:
    """Whether array ``x`` is committed to its devices (``jax.device_put`` with a
    device or sharding, or the output of a computation on committed inputs).

    jax exposes this only as the private ``Array._committed``. Fallback: treat
    every array as committed, which keeps it where it is (the safe reading:
    an uncommitted array may move, a committed one may not).
    """
    committed = getattr(x, _COMMITTED, None)
    return True if committed is None else bool(committed)


def context_mesh() -> Any:
    """The mesh set with ``jax.set_mesh`` in this thread (concrete if there is one,
    else abstract), or ``None`` outside any mesh context."""
    get_mesh = getattr(jax.sharding, "get_mesh", None)
    if get_mesh is not None:
        mesh = get_mesh()
        if mesh is not None and not mesh.empty:
            return mesh
    abstract = jax.sharding.get_abstract_mesh()
    return None if abstract.empty else abstract


def outside_mesh() -> Any:
    """A context manager under which no mesh is set (this thread): ``jax.set_mesh(None)``
    on jax >= 0.10; on older jax, which refuses ``None``, the empty mesh jax itself
    uses for "no mesh"."""
    try:
        return jax.set_mesh(None)
    except (TypeError, ValueError):
        return jax.set_mesh(jax.sharding.Mesh(np.empty((), dtype=object), ()))
