"""The initializer protocol and the base class every jax_inits initializer shares.

An initializer is an immutable value: equal hyper-parameters compare and hash
equal, so it can be a static argument of ``jax.jit`` and equal initializers built
in different places share compiled code. A call runs one executable:

* Eager calls are cached by signature (initializer, shape, dtype, key type,
  device): a repeated call skips the Python checks and runs its own jitted
  function of the key, compiled with the platform's
  `jax_inits._src.sampling.COMPILER_OPTIONS`. The first call of a small
  elementwise draw on the CPU instead runs in a kernel shared by its size
  bucket (`_bucketed`), so a model's first initialization does not
  compile once per layer shape.
* Calls traced by an outer ``jax.jit`` (or given ``out_sharding``) inline one
  jitted function keyed by ``(initializer, shape, dtype, sharding)``.

Every path returns the same bits.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import checks, densities, registry, sampling

try:  # private, but stable since jax 0.4; without it every call counts as traced
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:  # pragma: no cover
    _trace_state_clean = None

Shape = tuple[int, ...]
OutSharding = NamedSharding | PartitionSpec | None


@runtime_checkable
class Initializer(Protocol):
    """What every initializer is: ``init(key, shape, dtype=None, out_sharding=None)``.

    The same protocol as `jax.nn.initializers.Initializer`; jax's own
    initializers satisfy it too.

    Examples:
      >>> isinstance(jax_inits.he_normal(), jax_inits.Initializer)
      True
      >>> isinstance(jax.nn.initializers.he_normal(), jax_inits.Initializer)
      True
    """

    def __call__(
        self, key: jax.Array, shape: Any, dtype: Any = None, out_sharding: OutSharding = None
    ) -> jax.Array: ...


def default_float_dtype() -> np.dtype:
    """float64 when ``jax_enable_x64`` is on, else float32 (as jax)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype random values are computed in: float32 for 8/16-bit floats."""
    if jnp.issubdtype(dtype, np.floating) and dtype.itemsize < 4:
        return np.dtype(np.float32)
    return dtype


def inner_bounds(lo: float, hi: float, dtype: np.dtype) -> tuple[Any, Any]:
    """The closest values of ``dtype`` inside the real interval ``[lo, hi]``."""
    lo_d, hi_d = np.array(lo, dtype), np.array(hi, dtype)
    if float(lo_d) < lo:
        lo_d = np.nextafter(lo_d, np.array(np.inf, dtype))
    if float(hi_d) > hi:
        hi_d = np.nextafter(hi_d, np.array(-np.inf, dtype))
    return lo_d, hi_d


def display_name(default: str) -> Any:
    """The ``name`` field of an initializer class, ``default`` until a builder sets it.

    The registered builder that makes an initializer gives it its own name
    (`jax_inits._src.registry.register`), the one its messages and repr
    show. The name is left out of equality and hashing: equal hyper-parameters
    draw the same bits whichever builder made them (``kaiming_normal() ==
    he_normal()``), so they compare equal and share compiled code.
    """
    return dataclasses.field(default=default, compare=False, kw_only=True)


@dataclasses.dataclass(frozen=True, repr=False)
class InitializerBase:
    """Base class: value semantics, argument checks and the one-executable call.

    Subclasses are frozen dataclasses whose fields are the hyper-parameters. They
    implement `_sample` (traced; returns the array in ``work_dtype``) and may
    override `_check_call` (static shape checks), `_bounds` (real
    bounds the result must never cross, enforced in the output dtype) and, for
    draws elementwise in the flat index, `_scalars` with `_draw`.
    """

    random: ClassVar[bool] = True
    name: str = display_name("initializer")
    #: ``(builder name, arguments)`` as the registered builder was called (``None``
    #: for a ready initializer's arguments); set by that builder, not compared.
    built: tuple[str, dict[str, Any] | None] | None = dataclasses.field(
        default=None, compare=False, kw_only=True
    )

    def __repr__(self) -> str:
        built = registry.built_repr(self)
        if built is not None:
            return built
        args = []
        for field in dataclasses.fields(self):
            if field.name in ("name", "built"):
                continue
            value = getattr(self, field.name)
            if field.name == "dtype" and value is not None:
                value = np.dtype(value).name
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            args.append(f"{field.name}={value!r}")
        return f"{self.name}({', '.join(args)})"

    def __call__(
        self, key: Any, shape: Any, dtype: Any = None, out_sharding: OutSharding = None
    ) -> jax.Array:
        eager = out_sharding is None and _top_level()
        signature = _eager_signature(self, key, shape, dtype) if eager else None
        if signature is not None:
            run = _EAGER.get(signature)
            if run is not None:  # the same call passed every check before
                return run(key)
        shape = checks.shape(self.name, shape)
        dtype = self.resolve_dtype(checks.dtype(self.name, dtype, random=self.random))
        if self.random:
            checks.key(self.name, key)
        else:
            key = None
        self._check_call(shape, dtype)
        sharding = resolve_sharding(self.name, out_sharding)
        if eager:
            if signature not in _SEEN:
                bucketed = _bucketed(self, key, shape, dtype)
                if bucketed is not None:
                    if len(_SEEN) >= EAGER_CACHE_SIZE:
                        _SEEN.clear()
                        _SEEN.add(None)
                    _SEEN.add(signature)  # later calls compile their own executable
                    return bucketed
            run = _eager_runner(self, shape, dtype, _platform_of(key))
            if signature is not None:
                if len(_EAGER) >= EAGER_CACHE_SIZE:  # drop the oldest entry
                    del _EAGER[next(iter(_EAGER))]
                _EAGER[signature] = run
            return run(key)
        # Under an outer jax.jit the caller may shard the result (out_shardings):
        # draw in the shaped layout, which the partitioner can split per device.
        flat = sharding is None and not isinstance(key, jax.core.Tracer)
        return _run(self, key, shape, dtype, sharding, flat)

    @property
    def config(self) -> dict[str, Any]:
        """The builder's name and arguments as JSON values; see `jax_inits.from_config`.

        Examples:
          >>> jax_inits.he_normal(batch_axis=0).config
          {'name': 'he_normal', 'args': {'batch_axis': 0}}
        """
        return registry.config_of(self)

    @property
    def formula(self) -> str:
        """The distribution in one line of plain text, e.g. ``N(0, 0.01^2)``."""
        raise NotImplementedError

    def target_std(self, shape: Any) -> float:
        """The standard deviation (complex: root mean square modulus) that the values
        of an array of ``shape`` have by construction."""
        raise NotImplementedError

    def check(self, shape: Any, dtype: Any = None) -> tuple[Shape, np.dtype]:
        """Runs the static checks of a call ``init(key, shape, dtype)`` without drawing.

        Returns:
          The checked shape (a tuple of ints) and the dtype the call returns.

        Raises:
          ValueError, TypeError: where the call would, with the same message.

        Examples:
          >>> jax_inits.he_normal().check([3, 3, 16, 32], "bfloat16")
          ((3, 3, 16, 32), dtype(bfloat16))
          >>> jax_inits.orthogonal().check((8,))
          Traceback (most recent call last):
          ValueError: orthogonal: needs a shape of rank >= 2, got shape (8,).
        """
        shape = checks.shape(self.name, shape)
        dtype = self.resolve_dtype(checks.dtype(self.name, dtype, random=self.random))
        self._check_call(shape, dtype)
        return shape, dtype

    def bounds(self, shape: Any, dtype: Any = None) -> tuple[float, float] | None:
        """The real interval every value of ``init(key, shape, dtype)`` lies in, or
        ``None`` where the values are unbounded (and for complex dtypes).

        The bounds the call clips to, computed in the dtype the values are drawn
        in; runs the call's static checks first (see `check`).

        Examples:
          >>> jax_inits.truncated_normal(0.5).bounds((4, 4))
          (-1.0, 1.0)
          >>> jax_inits.normal().bounds((4, 4)) is None
          True
        """
        shape, dtype = self.check(shape, dtype)
        if jnp.issubdtype(dtype, np.complexfloating):
            return None
        found = self._bounds(shape, work_dtype(dtype))
        return None if found is None else (float(found[0]), float(found[1]))

    def density(self, shape: Any, dtype: Any = None) -> tuple[Callable[..., Any], str] | None:
        """The density of one value of ``init(key, shape, dtype)``, and a label for it.

        Exact where the family knows it (normal, truncated normal, uniform, the
        real variance-scaling presets); otherwise the normal density with the
        target std, labelled as a reference (the entries of a Haar orthogonal
        $n \\times n$ matrix are close to $\\mathcal{N}(0, 1/n)$ for large $n$). For
        complex dtypes, a normal reference for the real part (std
        $\\sigma / \\sqrt{2}$). ``None`` where the target std is 0 (constants).
        Runs the call's static checks first (see `check`).

        Examples:
          >>> pdf, label = jax_inits.uniform(2.0).density((3, 3))
          >>> label, float(pdf(np.array(1.0)))
          ('U[0, 2)', 0.5)
        """
        shape, dtype = self.check(shape, dtype)
        complex_ = jnp.issubdtype(dtype, np.complexfloating)
        exact = None if complex_ else self._density(shape)
        if exact is not None:
            return exact
        target = self.target_std(shape)
        if not target:
            return None
        std = target / math.sqrt(2) if complex_ else target
        label = f"N(0, {std:.4g}^2) reference" + (", real part" if complex_ else "")
        return functools.partial(densities.normal_pdf, mean=0.0, std=std), label

    def resolve_dtype(self, dtype: Any = None) -> np.dtype:
        """The dtype a call with ``dtype`` returns: ``dtype``, else the builder's
        ``dtype``, else the default (float32, or complex64 for complex-only ones)."""
        if dtype is None:
            dtype = getattr(self, "dtype", None)
        return self._default_dtype() if dtype is None else np.dtype(dtype)

    def _default_dtype(self) -> np.dtype:
        """The dtype when neither the call nor the builder names one."""
        return default_float_dtype()

    def _check_call(self, shape: Shape, dtype: np.dtype) -> None:
        """Static checks of ``shape`` and ``dtype``; raise ValueError/TypeError."""

    def _bounds(self, shape: Shape, dtype: np.dtype) -> tuple[float, float] | None:
        """Real bounds every value lies in, or ``None`` (computed in ``work_dtype``)."""
        return None

    def _density(self, shape: Shape) -> tuple[Callable[..., Any], str] | None:
        """The exact density of one real value and its label, or ``None`` where the
        family does not know it (then `density` shows a normal reference)."""
        return None

    def _sample(self, key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
        raise NotImplementedError

    def _scalars(self, shape: Shape, dtype: np.dtype) -> tuple[float, ...] | None:
        """The numbers through which ``shape`` enters the draw, for draws that are
        otherwise elementwise in the flat element index; ``None`` for the rest.

        Such a draw of ``shape`` is the first ``prod(shape)`` values of a flat draw
        of any larger size given the same numbers, which lets eager calls share
        one executable per size bucket (see `_bucket_runner`).
        """
        return None

    def _draw(self, key: jax.Array, shape: Shape, dtype: np.dtype, scalars: tuple) -> jax.Array:
        """`_sample` with `_scalars` given (traced in bucket kernels)."""
        return self._sample(key, shape, dtype)


def resolve_sharding(builder: str, out_sharding: Any) -> NamedSharding | None:
    """Turns ``out_sharding`` into a NamedSharding, or ``None``.

    A PartitionSpec is resolved against the mesh set with ``jax.set_mesh``.
    """
    if out_sharding is None:
        return None
    if isinstance(out_sharding, NamedSharding):
        return out_sharding
    if isinstance(out_sharding, PartitionSpec):
        mesh = jax.sharding.get_abstract_mesh()
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
    explicit = tuple(sharding.mesh.explicit_axes)
    if explicit:
        return jax.sharding.auto_axes(sample, out_sharding=sharding, axes=explicit)(key)
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
            return jnp.zeros(shape, dtype)
        work = work_dtype(dtype)
        x = init._sample(key, shape, work)
        bounds = init._bounds(shape, work)
        if bounds is not None:
            # Bounds representable in ``dtype`` commute with rounding to it (rounding
            # is monotonic), so clip in the work dtype, where the CPU has min/max.
            lo, hi = inner_bounds(*bounds, dtype)
            x = jax.lax.clamp(lo.astype(x.dtype), x, hi.astype(x.dtype))
        return sampling.convert(x, dtype)

    with sampling.flat_layout(flat), sampling.target_platform(platform):
        return _constrain(sample, key, sharding)


#: Calls traced inside jax.jit (or with an output sharding): one jit for all,
#: keyed by its static arguments.
_run = jax.jit(_sample, static_argnums=(0, 2, 3, 4, 5))

#: Eager calls: call signature -> the compiled call. See `_eager_signature`.
_EAGER: dict[tuple, Any] = {}
#: Entries kept in ``_EAGER`` (and signatures in ``_SEEN``); the oldest go first.
EAGER_CACHE_SIZE = 4096
#: Signatures whose first call ran in a bucket kernel. ``None`` (a call without a
#: hashable signature, e.g. a list shape) is always in it: such calls cannot be
#: recognised again, so they never take the bucket path.
_SEEN: set[tuple | None] = {None}
#: Largest flat size drawn by a bucket kernel (4 MiB of float32).
BUCKET_LIMIT = 1 << 20


def _top_level() -> bool:
    """Whether this call runs eagerly (not traced by jit, vmap, grad, ...)."""
    return _trace_state_clean is not None and _trace_state_clean()


def _eager_signature(init: InitializerBase, key: Any, shape: Any, dtype: Any) -> tuple | None:
    """What an eager call's result depends on, as a hashable tuple, or ``None``
    where the arguments are not plainly hashable (then the call is checked in full).

    Equal initializers have equal signatures, so they share one compiled call.
    The config flags that change a call's dtype or device are part of it.
    """
    if type(shape) is not tuple or any(type(d) is not int for d in shape):
        return None
    config = (jax.config.jax_enable_x64, jax.config.jax_default_device)
    if not init.random:
        signature = (init, shape, dtype, config)
    elif isinstance(key, jax.Array):
        device = frozenset(key.devices()) if getattr(key, "_committed", True) else None
        signature = (init, shape, dtype, key.dtype, key.shape, device, config)
    else:
        return None
    try:
        hash(signature)
    except TypeError:  # e.g. an initializer holding an array
        return None
    return signature


def _platform_of(key: Any) -> str:
    """The platform an eager call with ``key`` runs on."""
    if isinstance(key, jax.Array) and getattr(key, "_committed", False):
        return next(iter(key.devices())).platform
    return sampling.default_platform()


@functools.lru_cache(maxsize=EAGER_CACHE_SIZE)
def _eager_runner(init: InitializerBase, shape: Shape, dtype: np.dtype, platform: str):
    """One jitted function of the key alone for an eager call: a single
    executable, compiled with the platform's `sampling.COMPILER_OPTIONS`.
    Cached by the checked arguments, so calls whose raw arguments differ (a list
    shape, ``dtype=None`` or the dtype itself) share it."""
    body = functools.partial(
        _sample, init, shape=shape, dtype=dtype, sharding=None, flat=True, platform=platform
    )
    return jax.jit(body, compiler_options=sampling.COMPILER_OPTIONS.get(platform))


def _bucket_size(n: int) -> int:
    """The bucket of a flat size: the next power of two, at least 1024."""
    return max(1024, 1 << (n - 1).bit_length())


def _bucketed(init: InitializerBase, key: Any, shape: Shape, dtype: np.dtype) -> jax.Array | None:
    """The first eager call of a small elementwise draw on the CPU, without
    compiling for its shape: one executable per (initializer, size bucket, dtype)
    draws ``_bucket_size(n)`` values with the shape's numbers as arguments, and the
    first ``n`` are copied out in host memory. ``None`` where this does not apply.

    Compilation (about 80 ms per executable here) dominates a model's first
    initialization, where every layer shape is new. Threefry's partitionable
    counters make element ``i`` of a flat draw independent of the draw's size, so
    the values are the bits of the shape's own executable (tested).
    """
    n = math.prod(shape)
    work = work_dtype(dtype)
    if not (
        0 < n <= BUCKET_LIMIT
        and work == np.float32
        and isinstance(key, jax.Array)
        and not getattr(key, "_committed", True)
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
    run = _bucket_runner(init, _bucket_size(n), dtype, bounds is not None)
    flat = run(key, tuple(np.float32(v) for v in scalars), bounds)
    return jnp.array(np.asarray(flat)[:n].reshape(shape))


@functools.cache
def _bucket_runner(init: InitializerBase, size: int, dtype: np.dtype, bounded: bool):
    """``f(key, scalars, bounds)``: the flat draw of ``size`` values, one executable."""

    def draw(key, scalars, bounds):
        with sampling.flat_layout(True), sampling.target_platform("cpu"):
            x = init._draw(key, (size,), work_dtype(dtype), scalars)
            if bounded:
                x = jax.lax.clamp(bounds[0], x, bounds[1])
            return sampling.convert(x, dtype)

    return jax.jit(draw, compiler_options=sampling.COMPILER_OPTIONS["cpu"])
