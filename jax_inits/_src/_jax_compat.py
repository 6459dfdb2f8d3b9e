"""The only module that touches private or version-dependent jax API.

Each private name comes with the public fallback used when a jax release no
longer has it; ``tests/test_jax_compat.py`` runs the core call cases with every
private name hidden, so the fallbacks are exercised too.

The public names that moved between the floor (jax 0.5.3) and the newest jax --
``jax.set_mesh``, ``jax.sharding.reshard``/``auto_axes``, ``Mesh.explicit_axes``
-- are used only through the functions here, each with the older spelling it
falls back to. A feature an older jax lacks raises `too_old`, naming the jax
release it needs, never a quietly different result.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

# Public since jax 0.7; before, the same context manager is jax._src.mesh's (0.5, 0.6).
_use_abstract_mesh: Any = getattr(jax.sharding, "use_abstract_mesh", None)
if _use_abstract_mesh is None:  # pragma: no cover - jax < 0.7
    from jax._src.mesh import use_abstract_mesh as _use_abstract_mesh

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


#: The installed jax release, as a tuple of ints.
JAX_VERSION: tuple[int, ...] = tuple(jax.__version_info__)


#: Whether the fused CPU kernels of ``sampling`` (threefry written out, the fast
#: ``erf_inv`` form, first-call bucket kernels, the flat layout, tuned compiler
#: options) give ``jax.random``'s bits. Proven on jax 0.8.3 and newer: XLA's CPU
#: ``erf_inv`` equals ``sampling._erf_inv_f32`` on every float32 in [-1, 1] under
#: both compiler settings (the slow test in ``tests/test_sampling.py``), and eager,
#: jit and bucketed draws agree. Not on older releases: jax 0.8.0's ``lax.erf_inv``
#: differs from the fast form on 166924 of those inputs, and on 0.5.3-0.7.2 the
#: last bit of a draw depends on how its loop was compiled (eager, jit, flat and
#: bucketed draws split by 1 ulp on about 0.03% of elements) while a sampled check
#: passes. 0.8.1 and 0.8.2 are unmeasured, so they count as older. Below the gate
#: every draw is ``jax.random``'s own, compiled with jax's default options.
FUSED_KERNELS = JAX_VERSION >= (0, 8, 3)


#: Whether ``jax.jit`` lays its outputs out as its ``out_shardings`` on a mesh with
#: Explicit axes (jax >= 0.7). jax 0.5.3 and 0.6.2 return them replicated inside
#: ``use_mesh`` (0.5.3 refuses outside one), so ``tree.init`` refuses there.
JIT_EXPLICIT_OUT_SHARDINGS = JAX_VERSION >= (0, 7)


def too_old(feature: str, needs: tuple[int, ...]) -> RuntimeError:
    """The error for a ``feature`` this jax release lacks, naming the release that
    has it."""
    return RuntimeError(
        f"{feature} needs jax >= {'.'.join(map(str, needs))}, but jax {jax.__version__} "
        "is installed; upgrade jax (`pip install -U jax jaxlib`)."
    )


def set_mesh(mesh: Any) -> Any:
    """``jax.set_mesh(mesh)`` (jax >= 0.7); ``jax.sharding.use_mesh(mesh)`` on 0.5 and 0.6."""
    if hasattr(jax, "set_mesh"):
        return jax.set_mesh(mesh)
    return jax.sharding.use_mesh(mesh)  # pyright: ignore[reportAttributeAccessIssue]


def use_any_mesh(mesh: Any) -> Any:
    """`set_mesh` for a concrete mesh; for a ``jax.sharding.AbstractMesh`` (which
    ``jax.set_mesh`` refuses) ``jax.sharding.use_abstract_mesh``: sharding
    annotations resolve against it while nothing runs on devices."""
    if isinstance(mesh, jax.sharding.AbstractMesh):
        return _use_abstract_mesh(mesh)
    return set_mesh(mesh)


def get_abstract_mesh() -> Any:
    """The abstract mesh set with `set_mesh` in this thread (empty outside any)."""
    return jax.sharding.get_abstract_mesh()


def context_mesh() -> Any:
    """The mesh set with ``jax.set_mesh`` in this thread (concrete if there is one,
    else abstract), or ``None`` outside any mesh context."""
    get_mesh = getattr(jax.sharding, "get_mesh", None)
    if get_mesh is not None:
        mesh = get_mesh()
        if mesh is not None and not mesh.empty:
            return mesh
    abstract = get_abstract_mesh()
    return None if abstract.empty else abstract


def outside_mesh() -> Any:
    """A context manager under which no mesh is set (this thread): ``jax.set_mesh(None)``
    on jax >= 0.10; on older jax, which refuses ``None`` (0.5's ``use_mesh`` only
    when the context is entered), the empty mesh jax itself uses for "no mesh"."""
    if JAX_VERSION >= (0, 10):
        return set_mesh(None)
    return set_mesh(jax.sharding.Mesh(np.empty((), dtype=object), ()))


def explicit_axes(mesh: Any) -> tuple[str, ...]:
    """The names of ``mesh``'s Explicit axes: ``mesh.explicit_axes`` (jax >= 0.6),
    else read from ``mesh.axis_types``."""
    axes = getattr(mesh, "explicit_axes", None)
    if axes is not None:
        return tuple(axes)
    explicit = jax.sharding.AxisType.Explicit  # pyright: ignore[reportAttributeAccessIssue]
    return tuple(n for n, t in zip(mesh.axis_names, mesh.axis_types, strict=True) if t == explicit)


def _shard_api(name: str) -> Any:
    """``jax.sharding.<name>`` (jax >= 0.7), else ``jax.experimental.shard.<name>``."""
    found = getattr(jax.sharding, name, None)
    if found is None:
        from jax.experimental import shard  # pyright: ignore[reportAttributeAccessIssue]

        found = getattr(shard, name)
    return found


def reshard(x: Any, sharding: Any) -> Any:
    """``jax.sharding.reshard(x, sharding)``: ``x`` laid out as ``sharding`` on a
    mesh with Explicit axes."""
    return _shard_api("reshard")(x, sharding)


def auto_axes(fun: Any, out_sharding: Any, axes: tuple[str, ...]) -> Any:
    """``jax.sharding.auto_axes(fun, out_sharding=..., axes=...)``; jax 0.5's
    ``jax.experimental.shard.auto_axes`` spells the argument ``out_shardings``
    (0.6's already ``out_sharding``)."""
    api = _shard_api("auto_axes")
    if "out_shardings" in inspect.signature(api).parameters:
        return api(fun, out_shardings=out_sharding, axes=axes)
    return api(fun, out_sharding=out_sharding, axes=axes)


def enable_x64(enabled: bool = True) -> Any:
    """A context with ``jax_enable_x64`` set: ``jax.enable_x64`` (jax >= 0.8),
    ``jax.experimental.enable_x64``/``disable_x64`` before."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)  # pyright: ignore[reportAttributeAccessIssue]
    from jax import experimental

    switch = experimental.enable_x64 if enabled else experimental.disable_x64  # pyright: ignore[reportAttributeAccessIssue]
    return switch()


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
