"""The only module that touches private jax API.

Each private name comes with the public fallback used when a jax release no
longer has it; ``tests/test_jax_compat.py`` runs the core call cases with every
private name hidden, so the fallbacks are exercised too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
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


# ----------------------------------------------------------------------------- quiet tracer errors

#: jax releases whose traced ``Tracer.sharding`` (and other "not available on a
#: tracer" errors) build their message with ``find_progenitors``, which walks the
#: whole trace so far: probing ``.sharding`` once per variable, as Flax nnx does on
#: every ``Variable`` update, makes tracing quadratic in the model's size
#: (jax pull request 40041). The last such release is 0.10.x.
QUADRATIC_ORIGIN_MSG = jax.__version_info__ < (0, 11)

try:  # private: the trace-walking message of a tracer's "not available" errors
    from jax._src.interpreters.partial_eval import DynamicJaxprTracer as _DynamicJaxprTracer
except ImportError:  # pragma: no cover - exercised by hiding it in tests
    _DynamicJaxprTracer = None

_quiet = threading.local()
_installed = False
_install_lock = threading.Lock()


def _install_quiet_origin() -> bool:
    """Wraps ``DynamicJaxprTracer._origin_msg`` once so that it returns ``""`` in
    this thread while `quiet_tracer_errors` is active; whether it is wrapped."""
    global _installed
    tracer = _DynamicJaxprTracer
    original = None if tracer is None else tracer.__dict__.get("_origin_msg")
    if not callable(original):
        return False
    with _install_lock:
        if not _installed:

            def _origin_msg(self: Any) -> str:
                if getattr(_quiet, "depth", 0):
                    return ""
                return str(original(self))

            _origin_msg.__wrapped__ = original  # type: ignore[attr-defined]
            tracer._origin_msg = _origin_msg  # type: ignore[union-attr]
            _installed = True
    return True


@contextlib.contextmanager
def quiet_tracer_errors() -> Iterator[None]:
    """Within this context (this thread), a tracer's "attribute not available"
    errors carry no origin message, so probing ``tracer.sharding`` costs O(1).

    Only on the jax releases that need it (`QUADRATIC_ORIGIN_MSG`); elsewhere, or
    without the private class, a plain context (tracing stays quadratic there,
    never wrong). Used around the abstract construction of Flax nnx models,
    whose errors a user never sees (Flax catches them with ``getattr(x,
    "sharding", None)``); other errors raised inside keep jax's text minus the
    "The error occurred while tracing ..." sentence.
    """
    if not (QUADRATIC_ORIGIN_MSG and _install_quiet_origin()):
        yield
        return
    _quiet.depth = getattr(_quiet, "depth", 0) + 1
    try:
        yield
    finally:
        _quiet.depth -= 1
