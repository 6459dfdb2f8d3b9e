"""The one call path of every initializer: checks, the context-keyed cache, one executable.

``InitializerBase.__call__`` is `call`. A call is *eager* when nothing
traces it (no ``jax.jit``, ``vmap``, ``eval_shape``, ...) and it asks for no
``out_sharding``; every other call is *traced*.

* A traced call checks its arguments and inlines `_traced`, one jitted
  function of the key keyed by ``(initializer, shape, dtype, sharding)``: the
  caller's transformation decides placement, as for any jax function.
* An eager call is keyed by its *signature* (`_signature`): the
  initializer, the raw shape and dtype, the key's type and committed placement,
  and the context that changes a result -- the mesh set with ``jax.set_mesh``,
  the default device, x64, the threefry-partitionable flag and the default PRNG
  implementation. A signature seen before skips the checks and runs its cached
  function of the key. A new one is checked in full, then runs its own
  executable (`_eager_runner`), compiled outside any mesh context so its
  values never depend on the context. Inside a mesh the result is then laid out
  replicated over the mesh, as ``jax.nn.initializers`` places it.
* The *first* eager call of a small elementwise draw on the CPU, outside a mesh
  with an uncommitted key, skips the per-shape compile of the sampler: a kernel
  shared by the shape's power-of-four size bucket draws the flat values (the
  shape's numbers passed as a device array) and a small per-shape executable
  slices them into shape, on the device (`_first_call`). Bucket kernels use
  ``lax.erf_inv``, which gives the bits of the fast CPU form wherever that form
  is used, so the once-per-process check of the fast form (`_self_checks`)
  runs only before the first of the shape's own executables is traced: the
  second call of the signature, which runs that executable from then on.

Every path returns the same bits and jax.nn's placement; the context matrix in
``tests/test_contexts.py`` checks both in every context a user can be in.

On a GPU or TPU none of the CPU-only parts runs (no bucket kernel, no fast
``erf_inv`` form, no self-check): an eager call compiles its shape's own
executable with ``lax.erf_inv`` from the first call. `sampling.accelerator_path`
makes the CPU take that path, so that tests run it.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jax_inits._src import _jax_compat as compat
from jax_inits._src import caches, checks, sampling
from jax_inits._src.dtypes import Shape, inner_bounds, work_dtype

if TYPE_CHECKING:  # the value's class; dispatch imports nothing above it
    from jax_inits._src.base import InitializerBase

#: Eager signatures kept (the oldest is dropped first).
EAGER_CACHE_SIZE = 4096
#: Largest flat size a first call draws from a bucket kernel (4 MiB of float32).
BUCKET_LIMIT = 1 << 20

#: signature -> the checked call's function of the key.
_EAGER = caches.Cache("dispatch.eager", EAGER_CACHE_SIZE)


def call(init: InitializerBase, key: Any, shape: Any, dtype: Any, out_sharding: Any) -> jax.Array:
    """``init(key, shape, dtype, out_sharding)``: the only call path."""
    eager = out_sharding is None and compat.top_level()
    signature = _signature(init, key, shape, dtype) if eager else None
    if signature is not None:
        run = _EAGER.get(signature)
        if run is not None:  # the same call in the same context passed every check
            return run(key)
    if init.traced:
        return _traced_value_call(init, key, shape, dtype, out_sharding, eager)
    shape, dtype, key = _checked(init, key, shape, dtype)
    if not eager:
        sharding = resolve_sharding(init.name, out_sharding)
        # Under an outer jax.jit the caller may shard the result (out_shardings):
        # draw in the shaped layout, which the partitioner can split per device.
        flat = sharding is None and not isinstance(key, jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]
        with _mesh_of(sharding):
            return _traced(init, key, shape, dtype, sharding, flat)
    run = _eager_call(init, key, shape, dtype)
    platform = _platform_of(key)
    if signature is not None:
        first = _first_call(init, key, shape, dtype)
        if first is not None:  # the shape's own executable is traced on the next call
            _EAGER.put(signature, functools.partial(_checked_first_run, signature, run, platform))
            return first
    _self_checks(platform)
    if signature is not None:
        _EAGER.put(signature, run)
    return run(key)


def _mesh_of(sharding: NamedSharding | None) -> Any:
    """The context a sharded eager call runs in: ``jax.set_mesh`` of the sharding's
    own mesh where it has Explicit axes and no mesh is set (jax lays out explicitly
    sharded arrays only with their mesh in context), else none.

    Traced calls are left to the caller's jit: one with ``out_shardings`` (as
    `jax_inits.tree.init`) places the result; one without raises jax's own
    "enter your `jit` into a mesh context via `jax.set_mesh`".
    """
    if (
        sharding is None
        or not compat.top_level()
        or not isinstance(sharding.mesh, Mesh)
        or not compat.explicit_axes(sharding.mesh)
        or not compat.get_abstract_mesh().empty
    ):
        return contextlib.nullcontext()
    return compat.set_mesh(sharding.mesh)


def _traced_value_call(
    init: InitializerBase, key: Any, shape: Any, dtype: Any, out_sharding: Any, eager: bool
) -> jax.Array:
    """A call of an initializer built from a traced argument: inlined into the
    transformation that traced it (no cache: the value is not hashable)."""
    if eager:
        traced = [f for f, v in vars(init).items() if checks.is_traced(v)]
        raise ValueError(
            f"{init.name}: built with a traced `{traced[0]}`, so it runs only inside the "
            "jax.jit/vmap that traced it; call it there, or build it with a concrete number."
        )
    shape, dtype, key = _checked(init, key, shape, dtype)
    sharding = resolve_sharding(init.name, out_sharding)
    with _mesh_of(sharding):
        return _sample(init, key, shape, dtype, sharding, False)


def _checked_first_run(signature: tuple, run, platform: str, key: Any) -> jax.Array:
    """The second call of a signature whose first call ran a bucket kernel: the
    self-checks run before the shape's own executable is traced, then the plain
    ``run`` takes the signature's place in the cache."""
    _self_checks(platform)
    _EAGER.put(signature, run)
    return run(key)


def _checked(init: InitializerBase, key: Any, shape: Any, dtype: Any) -> tuple:
    """The checked ``(shape, dtype, key)`` of a call; raises for bad arguments."""
    shape = checks.shape(init.name, shape)
    dtype = init.resolve_dtype(checks.dtype(init.name, dtype, random=init.random))
    if init.random:
        checks.key(init.name, key)
    else:
        key = None
    init._check_call(shape, dtype)
    return shape, dtype, key


def _context() -> tuple:
    """What, besides the arguments, changes an eager call's result or placement."""
    config = jax.config
    return (
        config.jax_enable_x64,  # pyright: ignore[reportAttributeAccessIssue]
        config.jax_default_device,  # pyright: ignore[reportAttributeAccessIssue]
        config.jax_threefry_partitionable,  # pyright: ignore[reportAttributeAccessIssue]
        config.jax_default_prng_impl,  # pyright: ignore[reportAttributeAccessIssue]
        compat.context_mesh(),
        sampling.forced_platform(),  # tests only: sampling.accelerator_path
    )


def _signature(init: InitializerBase, key: Any, shape: Any, dtype: Any) -> tuple | None:
    """An eager call's cache key, or ``None`` where the raw arguments are not
    plainly hashable (such a call is checked in full every time).

    Equal initializers have equal signatures, so they share one compiled call.
    """
    if type(shape) is not tuple or any(type(d) is not int for d in shape):
        return None
    if not init.random:
        signature: tuple = (init, shape, dtype, _context())
    elif isinstance(key, jax.Array):
        placement = key.sharding if compat.is_committed(key) else None
        signature = (init, shape, dtype, key.dtype, key.shape, placement, _context())
    else:
        return None
    try:
        hash(signature)
    except TypeError:  # e.g. an initializer holding an array
        return None
    return signature


def _platform_of(key: Any) -> str:
    """The platform whose path an eager call with ``key`` takes: its device's."""
    forced = sampling.forced_platform()
    if forced is not None:
        return forced
    if isinstance(key, jax.Array) and compat.is_committed(key):
        return next(iter(key.devices())).platform
    return sampling.default_platform()


def _eager_call(init: InitializerBase, key: Any, shape: Shape, dtype: np.dtype):
    """The function of the key that a checked eager call runs in this context."""
    run = _eager_runner(init, shape, dtype, _platform_of(key))  # traced on its first call
    mesh = compat.context_mesh()
    if isinstance(mesh, Mesh):
        return functools.partial(_replicated, run, NamedSharding(mesh, PartitionSpec()))
    return run


def _replicated(run, sharding: NamedSharding, key: Any) -> jax.Array:
    """``run(key)`` computed outside the mesh context (so with the context-free
    executable and bits), then laid out replicated over the mesh as jax.nn's
    eager result is. A key replicated over the mesh gives its local copy; the
    copies to the other devices are explicit device-to-device transfers."""
    if isinstance(key, jax.Array) and len(key.devices()) > 1:
        key = key.addressable_shards[0].data
    with compat.outside_mesh():
        x = run(key)
    return jax.device_put(x, sharding)


def _self_checks(platform: str) -> None:
    """Runs the kernels' once-per-process checks outside the caller's context."""
    if platform == "cpu":
        with compat.outside_mesh():
            sampling.fast_erf_inv_exact()


def resolve_sharding(builder: str, out_sharding: Any) -> NamedSharding | None:
    """Turns ``out_sharding`` into a NamedSharding, or ``None``.

    A PartitionSpec is resolved against the mesh set with ``jax.set_mesh``.
    """
    if out_sharding is None:
        return None
    if isinstance(out_sharding, NamedSharding):
        return out_sharding
    if isinstance(out_sharding, PartitionSpec):
        mesh = compat.get_abstract_mesh()
        if mesh.empty:
            raise ValueError(
                f"{builder}: `out_sharding` {out_sharding!r} is a PartitionSpec, which "
                "needs a mesh: call inside `with jax.set_mesh(mesh):` or pass a "
                "NamedSharding."
            )
        return NamedSharding(mesh, out_sharding)
    raise TypeError(
        f"{builder}: `out_sharding` must be a NamedSharding, a PartitionSpec or "
        f"None, got {out_sharding!r}."
    )


def _constrain(sample, key, sharding: NamedSharding | None):
    """Runs ``sample(key)`` so that its result is laid out as ``sharding``.

    On meshes with explicit axes the sampling runs in auto mode with the output
    sharding fixed (as jax.random does); on auto meshes a sharding constraint on
    the result lets XLA partition the elementwise sampling. Either way each device
    computes its own shard of the same global values. The key is an argument,
    not a closure: a key derived inside ``jax.set_mesh`` of an explicit mesh
    carries that mesh in its type, which auto mode accepts only as an input.
    """
    if sharding is None:
        return sample(key)
    explicit = compat.explicit_axes(sharding.mesh)
    if explicit:
        return compat.auto_axes(sample, out_sharding=sharding, axes=explicit)(key)
    return jax.lax.with_sharding_constraint(sample(key), sharding)


def _sample(
    init: InitializerBase,
    key: Any,
    shape: Shape,
    dtype: np.dtype,
    sharding: NamedSharding | None,
    flat: bool,
    platform: str | None = None,
) -> jax.Array:
    """The traced body of every call: draw, cast, clip to the bounds, lay out."""

    def sample(key):
        if math.prod(shape) == 0:
            return jax.numpy.zeros(shape, dtype)
        work = work_dtype(dtype)
        x = (init._sample_traced if init.traced else init._sample)(key, shape, work)
        bounds = None if init.traced else init._bounds(shape, work)
        if bounds is not None:
            # Bounds representable in ``dtype`` commute with rounding to it (rounding
            # is monotonic), so clip in the work dtype, where the CPU has min/max.
            lo, hi = inner_bounds(*bounds, dtype)
            x = lax.clamp(lo.astype(x.dtype), x, hi.astype(x.dtype))
        return sampling.convert(x, dtype)

    with sampling.flat_layout(flat), sampling.target_platform(platform):
        return _constrain(sample, key, sharding)  # pyright: ignore[reportReturnType]


#: Traced calls (inside jax.jit, vmap, ..., or with an output sharding): one jit
#: for all, keyed by its static arguments.
_traced = caches.register_jit(
    "dispatch.traced", jax.jit(_sample, static_argnums=(0, 2, 3, 4, 5, 6))
)


@caches.lru("dispatch.eager_runner", EAGER_CACHE_SIZE)
def _eager_runner(init: InitializerBase, shape: Shape, dtype: np.dtype, platform: str):
    """One jitted function of the key alone for an eager call: a single
    executable, compiled with the platform's `sampling.COMPILER_OPTIONS`.
    Cached by the checked arguments, so calls whose raw arguments differ (a list
    shape, ``dtype=None`` or the dtype itself) share it."""
    body = functools.partial(
        _sample, init, shape=shape, dtype=dtype, sharding=None, flat=True, platform=platform
    )
    return jax.jit(body, compiler_options=sampling.compiler_options(platform))


def _bucket_size(n: int) -> int:
    """The bucket of a flat size: the next power of four, at least 4096 (a first
    call draws at most 4x the values it keeps; a model's layer sizes fall into a
    few buckets, so few bucket kernels compile)."""
    bits = (n - 1).bit_length()
    return max(4096, 1 << (bits + (bits & 1)))


def _first_call(init: InitializerBase, key: Any, shape: Shape, dtype: np.dtype):
    """The first eager call of a small elementwise float draw on the CPU, without
    compiling the sampler for its shape, or ``None`` where this does not apply.

    One executable per (initializer, size bucket, dtype) draws
    ``_bucket_size(n)`` values with the shape's numbers (`_scalars`, and
    the bounds) passed as one explicitly placed device array; a small per-shape
    executable takes the first ``n`` and reshapes them, on the device.
    Compiling the sampler (about 80 ms here) dominates a model's first
    initialization, where every layer shape is new; the slice compiles several
    times faster. Threefry's partitionable counters make element ``i`` of a flat
    draw independent of the draw's size, so the values are the bits of the
    shape's own executable (tested for every bucketable builder).
    """
    n = math.prod(shape)
    work = work_dtype(dtype)
    if not (
        0 < n <= BUCKET_LIMIT
        and work == np.float32
        and isinstance(key, jax.Array)
        and not compat.is_committed(key)
        and compat.context_mesh() is None
        and sampling.default_platform() == "cpu"
        and sampling.fused(key, (_bucket_size(n),))
    ):
        return None
    scalars = init._scalars(shape, work)
    if scalars is None:
        return None
    bounds = init._bounds(shape, work)
    if bounds is not None:
        bounds = tuple(b.astype(work) for b in inner_bounds(*bounds, dtype))
    numbers = np.array(tuple(scalars) + (bounds or ()), np.float32)
    run = _bucket_runner(init, _bucket_size(n), dtype, len(scalars), bounds is not None)
    flat = run(key, jax.device_put(numbers))  # explicit: allowed under any transfer guard
    return _cut(flat, shape)


@caches.lru("dispatch.bucket_runner", 256)
def _bucket_runner(init: InitializerBase, size: int, dtype: np.dtype, k: int, bounded: bool):
    """``f(key, numbers)``: the flat draw of ``size`` values, one executable;
    ``numbers`` holds the ``k`` scalars, then the two bounds if ``bounded``."""

    def draw(key, numbers):
        scalars = tuple(numbers[i] for i in range(k))
        # lax.erf_inv: the bits of the shape's own executable, and no self-check first.
        with (
            sampling.flat_layout(True),
            sampling.target_platform("cpu"),
            sampling.reference_erf_inv(),
        ):
            x = init._draw(key, (size,), work_dtype(dtype), scalars)
            if bounded:
                x = lax.clamp(numbers[k], x, numbers[k + 1])
            return sampling.convert(x, dtype)

    return jax.jit(draw, compiler_options=sampling.COMPILER_OPTIONS["cpu"])


@functools.partial(jax.jit, static_argnums=1)
def _cut_jit(flat: jax.Array, shape: Shape) -> jax.Array:
    return lax.reshape(lax.slice(flat, (0,), (math.prod(shape),)), shape)


_cut = caches.register_jit("dispatch.cut", _cut_jit)
