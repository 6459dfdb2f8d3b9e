"""Structured initializers: ``identity``, ``dirac``, ``sparse``, ``stacked`` and ``grouped``.

``identity``, ``dirac`` and ``sparse`` take a ``layout``: ``"jax"`` kernels are
``(..., in, out)`` with the receptive-field (spatial) axes first, e.g. HWIO;
``"torch"`` weights are ``(out, in, *kernel)``. The torch layout places every
element where ``torch.nn.init`` places it for that shape.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, distributions, registry, sampling
from jax_inits._src.base import InitializerBase
from jax_inits._src.distributions import require_real

LAYOUTS: tuple[str, ...] = ("jax", "torch")


def check_layout(builder: str, layout: Any) -> str:
    """Returns ``layout`` if it is ``"jax"`` or ``"torch"``, or raises ValueError."""
    if layout not in LAYOUTS:
        raise ValueError(f"{builder}: `layout` must be one of {LAYOUTS}, got {layout!r}.")
    return layout


def layout_axes(builder: str, layout: Any) -> tuple[int, int]:
    """``(in_axis, out_axis)`` of a weight in ``layout``, after `check_layout`."""
    return (-2, -1) if check_layout(builder, layout) == "jax" else (1, 0)


def _fraction_std(gain: float, fraction: float) -> float:
    """Std of an array whose values are ``gain`` on ``fraction`` of entries, else 0."""
    return abs(gain) * math.sqrt(fraction * (1.0 - fraction))


@dataclasses.dataclass(frozen=True, repr=False)
class Identity(InitializerBase):
    name: str = dataclasses.field(default="identity", compare=False, kw_only=True)
    random = False
    gain: float = 1.0
    batched: bool = True  # leading axes are a batch of matrices (False: rank 2 only)
    dtype: np.dtype | None = None

    formula = property(lambda self: f"{self.gain:g} * I on the last two axes")

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        if len(shape) < 2 or not math.prod(shape):
            return 0.0
        return _fraction_std(self.gain, min(shape[-2:]) / (shape[-2] * shape[-1]))

    def _check_call(self, shape, dtype):
        if len(shape) < 2 or (not self.batched and len(shape) != 2):
            wanted = "rank >= 2" if self.batched else "rank 2 (Only tensors with 2 dimensions)"
            raise ValueError(f"{self.name}: needs a shape of {wanted}, got shape {shape}.")

    def _sample(self, key, shape, dtype):
        eye = jnp.eye(shape[-2], shape[-1], dtype=dtype) * jnp.array(self.gain, dtype)
        return jnp.broadcast_to(eye, shape)


@dataclasses.dataclass(frozen=True, repr=False)
class Dirac(InitializerBase):
    name: str = dataclasses.field(default="dirac", compare=False, kw_only=True)
    random = False
    groups: int = 1
    gain: float = 1.0
    layout: str = "jax"
    dtype: np.dtype | None = None

    formula = property(
        lambda self: (
            f"{self.gain:g} at the centre tap of in-channel d -> out-channel d "
            f"(per group of {self.groups}), 0 elsewhere"
        )
    )

    def _channels(self, shape) -> tuple[int, int, tuple[int, ...]]:
        if self.layout == "jax":
            return shape[-2], shape[-1], shape[:-2]
        return shape[1], shape[0], shape[2:]

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        if not math.prod(shape):
            return 0.0
        n_in, n_out, _ = self._channels(shape)
        ones = self.groups * min(n_out // self.groups, n_in)
        return _fraction_std(self.gain, ones / math.prod(shape))

    def _check_call(self, shape, dtype):
        if len(shape) not in (3, 4, 5):
            raise ValueError(
                f"{self.name}: needs a convolution kernel of rank 3, 4 or 5 (Only tensors "
                f"with 3, 4, or 5 dimensions are supported), got shape {shape}."
            )
        _, n_out, _ = self._channels(shape)
        if n_out % self.groups:
            where = "dim 0" if self.layout == "torch" else "the out-channel axis (-1)"
            raise ValueError(
                f"{self.name}: {where} is not divisible by groups: {n_out} out-channels of "
                f"shape {shape}, groups={self.groups}."
            )

    def _sample(self, key, shape, dtype):
        # Elementwise from iotas (no scatter), so a sharded call computes only its
        # shard: entry = gain where in == out mod (out / groups) at the centre tap.
        _, n_out, spatial = self._channels(shape)
        if self.layout == "jax":
            in_axis, out_axis, spatial_axes = len(shape) - 2, len(shape) - 1, range(len(shape) - 2)
        else:
            in_axis, out_axis, spatial_axes = 1, 0, range(2, len(shape))
        iota = lambda axis: jax.lax.broadcasted_iota(np.int32, shape, axis)  # noqa: E731
        hit = iota(in_axis) == iota(out_axis) % (n_out // self.groups)
        for axis, k in zip(spatial_axes, spatial, strict=True):
            hit &= iota(axis) == k // 2  # torch's centre: size // 2
        return jnp.where(hit, jnp.array(self.gain, dtype), jnp.zeros((), dtype))


@dataclasses.dataclass(frozen=True, repr=False)
class Sparse(InitializerBase):
    name: str = dataclasses.field(default="sparse", compare=False, kw_only=True)
    sparsity: float = 0.1
    stddev: float = 0.01
    axis: int = -1  # zeros are counted along this axis, separately for each other index
    dtype: np.dtype | None = None

    formula = property(
        lambda self: (
            f"N(0, {self.stddev:g}^2) with ceil({self.sparsity:g} * n) zeros "
            f"along axis {self.axis} per line"
        )
    )

    def _num_zeros(self, shape) -> int:
        return math.ceil(self.sparsity * shape[self.axis])

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        if not math.prod(shape):
            return 0.0
        return self.stddev * math.sqrt(1.0 - self._num_zeros(shape) / shape[self.axis])

    def _check_call(self, shape, dtype):
        require_real(self.name, dtype)
        if len(shape) != 2:
            raise ValueError(
                f"{self.name}: needs a matrix (Only tensors with 2 dimensions are "
                f"supported), got shape {shape}."
            )

    def _sample(self, key, shape, dtype):
        values_key, mask_key = jax.random.split(key)
        values = sampling.normal(values_key, shape, dtype, jnp.array(self.stddev, dtype))
        # Ranks of i.i.d. random bits along the axis form a uniform random
        # permutation (stable sorts make ties harmless); the lowest ranks are zeroed.
        bits = sampling.bits(mask_key, shape)
        ranks = jnp.argsort(jnp.argsort(bits, axis=self.axis, stable=True), axis=self.axis)
        return jnp.where(ranks < self._num_zeros(shape), jnp.zeros((), dtype), values)


@dataclasses.dataclass(frozen=True, repr=False)
class Stacked(InitializerBase):
    name: str = dataclasses.field(default="stacked", compare=False, kw_only=True)
    init: Any = None
    axis: int = 0

    @property
    def random(self) -> bool:  # type: ignore[override]
        return getattr(self.init, "random", True)

    @property
    def dtype(self):
        return getattr(self.init, "dtype", None)

    def _slice(self, shape) -> tuple[int, tuple[int, ...]]:
        axis = checks.normalize_axes(self.name, shape, axis=self.axis)["axis"][0]
        return axis, shape[:axis] + shape[axis + 1 :]

    @property
    def _inner_formula(self) -> str:
        return getattr(self.init, "formula", repr(self.init))

    @property
    def formula(self) -> str:
        return f"independent per slice of axis {self.axis}: {self._inner_formula}"

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        if not hasattr(self.init, "target_std"):
            raise TypeError(f"{self.name}: {self.init!r} does not say its target std.")
        return self.init.target_std(self._slice(shape)[1])

    def _default_dtype(self):
        if isinstance(self.init, InitializerBase):
            return self.init._default_dtype()
        return super()._default_dtype()

    def _check_call(self, shape, dtype):
        _, inner = self._slice(shape)
        if isinstance(self.init, InitializerBase) and math.prod(inner):
            self.init._check_call(inner, dtype)

    def _bounds(self, shape, dtype):
        if isinstance(self.init, InitializerBase):
            return self.init._bounds(self._slice(shape)[1], dtype)
        return None

    def _sample(self, key, shape, dtype):
        axis, inner = self._slice(shape)
        if key is None:  # a deterministic inner initializer
            x = jnp.broadcast_to(self.init(None, inner, dtype), (shape[axis], *inner))
        else:
            keys = jax.random.split(key, shape[axis])
            x = jax.vmap(lambda k: self.init(k, inner, dtype))(keys)
        return jnp.moveaxis(x, 0, axis)


@dataclasses.dataclass(frozen=True, repr=False)
class Grouped(Stacked):
    """``groups`` equal blocks along ``axis``, each drawn by ``init`` with its own key."""

    name: str = dataclasses.field(default="grouped", compare=False, kw_only=True)
    groups: int = 1

    def _slice(self, shape) -> tuple[int, tuple[int, ...]]:
        axis = checks.normalize_axes(self.name, shape, axis=self.axis)["axis"][0]
        if shape[axis] % self.groups:
            raise ValueError(
                f"{self.name}: axis {self.axis} of shape {shape} has size {shape[axis]}, "
                f"which is not divisible by `groups` = {self.groups}."
            )
        return axis, shape[:axis] + (shape[axis] // self.groups,) + shape[axis + 1 :]

    @property
    def formula(self) -> str:
        return f"{self.groups} independent blocks of axis {self.axis}: {self._inner_formula}"

    def _sample(self, key, shape, dtype):
        axis, inner = self._slice(shape)
        if key is None:  # a deterministic inner initializer
            x = jnp.broadcast_to(self.init(None, inner, dtype), (self.groups, *inner))
        else:
            keys = jax.random.split(key, self.groups)
            x = jax.vmap(lambda k: self.init(k, inner, dtype))(keys)
        # (G, ..., n/G, ...) -> (..., G, n/G, ...) -> (..., n, ...): block g is [g n/G, (g+1) n/G).
        return jnp.moveaxis(x, 0, axis).reshape(shape)


@registry.register(
    "identity",
    equivalents={"torch": "eye_ (2-D)", "keras": "Identity(gain)", "haiku": "Identity(gain)"},
    kinds={"gain": "real"},
)
def identity(gain: float = 1.0, dtype=None) -> Identity:
    r"""Builds an initializer of (batched) identity matrices times ``gain``.

    The last two axes hold $\mathrm{gain} \cdot I_{n \times m}$ (ones on
    the main diagonal of a possibly rectangular matrix); leading axes are a batch
    and hold copies. The key is ignored.

    Args:
      gain: Multiplier (any real number).
      dtype: Default dtype of the result (any numeric dtype).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``gain`` is not a real number, ``dtype`` not numeric.
      ValueError: ``gain`` not finite. At call: rank < 2.

    Examples:
      >>> jax_inits.identity(2.0)(None, (2, 3))
      Array([[2., 0., 0.],
             [0., 2., 0.]], dtype=float32)
    """
    return Identity(
        checks.real_number("identity", "gain", gain),
        True,
        checks.dtype("identity", dtype, random=False),
    )


@registry.register(
    "dirac",
    shape="conv",
    equivalents={"torch": "dirac_(w, groups)"},
    kinds={"groups": "int", "gain": "real", "layout": "layout"},
)
def dirac(groups: int = 1, gain: float = 1.0, dtype=None, *, layout: str = "jax") -> Dirac:
    r"""Builds a Dirac-delta convolution kernel: the convolution copies its input.

    In each of ``groups`` groups, in-channel $d$ maps to out-channel
    $g \cdot (n_\mathrm{out}/\mathrm{groups}) + d$ through the centre tap
    (index ``k // 2`` of every spatial axis, as torch), with weight ``gain``, for
    $d < \min(n_\mathrm{out}/\mathrm{groups}, n_\mathrm{in})$; all other
    entries are 0. The default layout is JAX's ``(*spatial, in, out)``; with
    ``layout="torch"`` the shape is ``(out, in, *spatial)`` and the result equals
    ``torch.nn.init.dirac_``. The key is ignored.

    Args:
      groups: Number of channel groups, ``>= 1``; must divide the out-channels.
      gain: Value of the non-zero entries.
      dtype: Default dtype of the result (any numeric dtype).
      layout: Keyword-only: ``"jax"`` or ``"torch"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``groups`` not an integer, ``gain`` not a real number.
      ValueError: ``groups < 1``, unknown ``layout``. At call: rank not 3, 4 or
        5, or out-channels not divisible by ``groups``.

    Examples:
      >>> w = jax_inits.dirac()(None, (3, 3, 4, 4))
      >>> x = jax.random.normal(jax.random.key(0), (1, 8, 8, 4))
      >>> y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
      ...                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
      >>> bool(jnp.allclose(x, y))
      True
    """
    return make_dirac("dirac", groups, gain, dtype, layout)


def make_dirac(builder: str, groups, gain, dtype, layout) -> Dirac:
    groups = checks.integer(builder, "groups", groups)
    if groups < 1:
        raise ValueError(f"{builder}: `groups` must be > 0, got {groups!r}.")
    return Dirac(
        groups,
        checks.real_number(builder, "gain", gain),
        check_layout(builder, layout),
        checks.dtype(builder, dtype, random=False),
    )


@registry.register(
    "sparse",
    example=registry.args(0.25),
    shape="matrix",
    equivalents={"torch": "sparse_(w, sparsity, std)"},
    kinds={"sparsity": "nonneg", "stddev": "nonneg", "layout": "layout"},
)
def sparse(sparsity: float, stddev: float = 0.01, dtype=None, *, layout: str = "jax") -> Sparse:
    r"""Builds a sparse initializer: normal values with a fixed share of zeros.

    Values are $\mathcal{N}(0, \mathrm{stddev}^2)$; then, for every input
    unit, $\lceil \mathrm{sparsity} \cdot n_\mathrm{out} \rceil$ of its
    connections, chosen uniformly at random, are set to 0 (Martens, 2010; the
    rule of ``torch.nn.init.sparse_``, which zeros that many entries of each
    column of an ``(out, in)`` weight). JAX layout ``(in, out)``: zeros are
    counted along each row; ``layout="torch"``: along each column of
    ``(out, in)``.

    Args:
      sparsity: Fraction of zeros per input unit, in ``[0, 1]``.
      stddev: Standard deviation of the non-zero values, ``>= 0``.
      dtype: Default dtype of the result (real floating).
      layout: Keyword-only: ``"jax"`` or ``"torch"``.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: non-numeric arguments.
      ValueError: ``sparsity`` outside ``[0, 1]``, negative ``stddev``, unknown
        ``layout``. At call: the shape is not a matrix.

    Examples:
      >>> w = jax_inits.sparse(0.25)(jax.random.key(0), (8, 100))
      >>> (w == 0).sum(axis=1).tolist()
      [25, 25, 25, 25, 25, 25, 25, 25]

    References:
      Martens, [Deep learning via Hessian-free
      optimization](https://www.cs.toronto.edu/~jmartens/docs/Deep_HessianFree.pdf), 2010.
    """
    return make_sparse("sparse", sparsity, stddev, dtype, layout)


def make_sparse(builder: str, sparsity, stddev, dtype, layout, std_arg="stddev") -> Sparse:
    fraction = checks.real_number(builder, "sparsity", sparsity, minimum=0.0)
    if fraction > 1:
        raise ValueError(f"{builder}: `sparsity` must be <= 1, got {sparsity!r}.")
    return Sparse(
        fraction,
        checks.real_number(builder, std_arg, stddev, minimum=0.0),
        layout_axes(builder, layout)[1],
        checks.dtype(builder, dtype, random=True),
    )


@registry.register(
    "stacked", example=registry.args(distributions.normal(1.0)), kinds={"axis": "int"}
)
def stacked(init: Any, axis: int = 0) -> Stacked:
    r"""Builds an initializer for a stack of layers along ``axis`` (scanned layers).

    Each slice along ``axis`` is ``init`` called with its own key and the slice's
    shape: ``stacked(init)(key, (L, *s))[i] == init(jax.random.split(key, L)[i], s)``.
    So the stacked axis counts in no fan: a plain ``he_normal()`` on ``(L, in,
    out)`` would take ``L`` as part of the receptive field and shrink the std by
    $\sqrt{L}$.

    Args:
      init: Any initializer (jax_inits or jax.nn.initializers).
      axis: The stacking axis.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``init`` is not callable, ``axis`` is not an integer.
      ValueError: at call, ``axis`` outside the shape or the inner initializer's
        own shape errors for the slice shape.

    Examples:
      >>> init = jax_inits.stacked(jax_inits.he_normal())
      >>> w = init(jax.random.key(0), (12, 512, 512))
      >>> round(float(w.std()) * (512 / 2) ** 0.5, 1)  # target sqrt(2 / 512), not / 12
      1.0
    """
    builder = "stacked"
    checks.initializer(builder, "init", init)
    return Stacked(init, checks.integer(builder, "axis", axis))


@registry.register(
    "grouped",
    example=registry.args(distributions.normal(1.0), 2, axis=0),
    kinds={"groups": "count", "axis": "int"},
)
def grouped(init: Any, groups: int, axis: int = -1) -> Grouped:
    r"""Builds an initializer for a fused kernel: ``groups`` blocks, each with its own fans.

    The axis is cut into ``groups`` equal consecutive blocks; block ``g`` is
    ``init`` called with its own key and the block's shape:
    ``grouped(init, G, axis)(key, s)`` equals the concatenation along ``axis`` of
    ``init(jax.random.split(key, G)[g], block_shape)``. A fused q/k/v kernel of
    shape $(d, 3d)$ under ``grouped(glorot_uniform(), 3)`` then has the bound
    $\sqrt{6 / (d + d)}$ of three separate $(d, d)$ kernels, not
    $\sqrt{6 / (d + 3d)}$, as axlearn's ``PerGroupInitializer`` and timm's
    "moco" ViT init do.

    Args:
      init: Any initializer (jax_inits or jax.nn.initializers).
      groups: Number of blocks, ``> 0``; must divide the axis at call.
      axis: The fused axis (``-1``, the output features of a Dense kernel).

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``init`` is not callable, ``groups`` or ``axis`` not an integer.
      ValueError: ``groups <= 0``; at call, ``axis`` outside the shape or a size
        not divisible by ``groups``.

    Examples:
      >>> init = jax_inits.grouped(jax_inits.glorot_uniform(), 3)
      >>> w = init(jax.random.key(0), (256, 768))  # fused q, k, v
      >>> bound = (6 / (256 + 256)) ** 0.5
      >>> bool(jnp.abs(w).max() <= bound), bool(jnp.abs(w).max() > 0.99 * bound)
      (True, True)

    References:
      Chen, Xie & He, [An Empirical Study of Training Self-Supervised Vision
      Transformers](https://arxiv.org/abs/2104.02057), 2021 (MoCo v3, the
      per-q/k/v Xavier bound timm's ``init_weights_vit_moco`` uses).
    """
    builder = "grouped"
    if not callable(init):
        raise TypeError(f"{builder}: `init` must be an initializer, got {init!r}.")
    groups = checks.integer(builder, "groups", groups)
    if groups < 1:
        raise ValueError(f"{builder}: `groups` must be > 0, got {groups!r}.")
    return Grouped(init, checks.integer(builder, "axis", axis), groups)


@dataclasses.dataclass(frozen=True, repr=False)
class ZeroRow(Stacked):
    """``init``'s draw with row ``index`` (along axis 0) exactly zero; see `zero_row`."""

    name: str = dataclasses.field(default="zero_row", compare=False, kw_only=True)
    index: int = 0

    def _slice(self, shape) -> tuple[int, tuple[int, ...]]:
        return 0, tuple(shape)

    @property
    def formula(self) -> str:
        return f"{self._inner_formula}, row {self.index} = 0"

    def target_std(self, shape) -> float:
        shape = tuple(shape)
        # `init`'s std (the "slice" is the whole shape), but one of the shape[0] rows is
        # zero: E[w^2] shrinks by (n - 1) / n (zero mean)
        return super().target_std(shape) * math.sqrt((shape[0] - 1) / shape[0])

    def _check_call(self, shape, dtype):
        if not shape:
            raise ValueError(f"{self.name}: needs a shape of rank >= 1, got shape {shape}.")
        if math.prod(shape) and not -shape[0] <= self.index < shape[0]:
            raise ValueError(
                f"{self.name}: `index` {self.index} is not a row of shape {shape} "
                f"(rows along axis 0: [-{shape[0]}, {shape[0]}))."
            )
        super()._check_call(shape, dtype)

    def _bounds(self, shape, dtype):
        return None  # the inner bounds and 0: enforced by the inner initializer

    def _sample(self, key, shape, dtype):
        return self.init(key, shape, dtype).at[self.index].set(0)


@registry.register(
    "zero_row",
    example=registry.args(distributions.normal(1.0), 0),
    kinds={"index": "int"},
)
def zero_row(init: Any, index: int) -> ZeroRow:
    """Builds ``init`` with row ``index`` set to zero: an embedding's ``padding_idx``.

    torch's ``nn.Embedding(padding_idx=i)`` and Hugging Face's ``_init_weights``
    zero that row after the draw; so does this, exactly (``0.0``, not a small
    value). Also ``jax_inits.presets.zero_row``.

    Args:
      init: Any initializer of the embedding table ``(num_embeddings, dim)``.
      index: The row to zero; negative counts from the end.

    Returns:
      An initializer ``init(key, shape, dtype=None, out_sharding=None)``.

    Raises:
      TypeError: ``init`` is not an initializer or ``index`` not an integer.
      ValueError: at call, ``index`` outside the rows of the shape.

    Examples:
      >>> e = jax_inits.zero_row(jax_inits.normal(0.02), 0)(jax.random.key(0), (5, 3))
      >>> e[0].tolist(), bool((e[1:] != 0).all())
      ([0.0, 0.0, 0.0], True)
    """
    builder = "zero_row"
    checks.initializer(builder, "init", init)
    return ZeroRow(init, index=checks.integer(builder, "index", index))
