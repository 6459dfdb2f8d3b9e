"""Diagnostics: signal propagation through deep MLPs, sample statistics and
per-leaf summaries of parameter trees.

Everything here is numbers (jax and numpy); the plots live in
`jax_inits._src.plots`, which imports matplotlib when first called.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, registry, tree

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda x: x,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "selu": jax.nn.selu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "sin": jnp.sin,
}
VARIANTS = ("plain", "residual")


def lookup(name: str, **kwargs: Any) -> Any:
    """Builds the registered initializer called ``name`` with builder arguments ``kwargs``.

    The CLI and `summarize` go through it; names resolve (and unknown
    names fail, with one did-you-mean) in `jax_inits._src.registry.resolve`.
    ``zeros`` and ``ones`` are ready initializers and take no arguments; a
    builder with a required argument called without ``kwargs`` gives its
    registered example (``constant(0.5)``).

    Raises:
      ValueError: for a name that is not registered (listing close names),
        or arguments given to a ready initializer; and whatever the builder
        raises for bad arguments.

    Examples:
      >>> from jax_inits._src.diagnostics import lookup
      >>> lookup("normal", stddev=0.5)
      normal(stddev=0.5)
      >>> lookup("he_norml")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ValueError: unknown initializer 'he_norml'; did you mean: he_normal, ...
    """
    spec = registry.resolve(name, caller=None)
    if spec.builder is None:
        if kwargs:
            raise ValueError(f"{name} is a ready initializer and takes no arguments, got {kwargs}")
        return spec.ready
    if not kwargs:
        try:
            inspect.signature(spec.builder).bind()
        except TypeError:  # a required argument, e.g. constant(value): the example
            return spec.build_example()
    return spec.builder(**kwargs)


def _as_initializer(init: Any) -> Any:
    return lookup(init) if isinstance(init, str) else init


# --------------------------------------------------------------------------- propagation


class Propagation(NamedTuple):
    """Per-layer statistics of one deep MLP at initialization.

    Attributes:
      forward: ``(depth + 1,)``: $q^l$, the mean square of the
        pre-activations $h^l$ (``l = 0`` is the input), i.e. their variance
        (they have mean zero for weights of mean zero).
      backward: ``(depth + 1,)``: $\\|\\partial L / \\partial h^l\\|$ divided by
        its value at the output layer (``backward[-1] == 1``).
      weight_grad: ``(depth,)``: $\\|\\partial L / \\partial W^l\\|_F$ for the
        loss $L = \\langle h^L, v \\rangle$, with ``v`` a standard normal
        direction scaled to unit Frobenius norm.

    Examples:
      >>> from jax_inits.diagnostics import propagate
      >>> p = propagate(jax.random.key(0), "he_normal", depth=3, width=8)
      >>> p._fields, float(p.backward[-1])
      (('forward', 'backward', 'weight_grad'), 1.0)
    """

    forward: jax.Array
    backward: jax.Array
    weight_grad: jax.Array


@functools.partial(jax.jit, static_argnames=("activation", "residual", "residual_scale"))
def _propagate(weights, inputs, direction, activation, residual, residual_scale):
    phi = ACTIVATIONS[activation] if isinstance(activation, str) else activation

    def layer(h, w_and_probe):
        w, probe = w_and_probe
        z = phi(h) @ w
        h = (h + residual_scale * z if residual else z) + probe
        return h, h

    def loss(weights, inputs, probes):
        last, hs = jax.lax.scan(layer, inputs, (weights, probes))
        return jnp.sum(last * direction), hs

    probes = jnp.zeros((weights.shape[0], *inputs.shape), inputs.dtype)
    grads, hs = jax.grad(loss, argnums=(0, 1, 2), has_aux=True)(weights, inputs, probes)
    g_weights, g_inputs, g_hs = grads
    hs = jnp.concatenate([inputs[None], hs])
    g_hs = jnp.concatenate([g_inputs[None], g_hs])
    forward = jnp.mean(jnp.square(hs.astype(jnp.float32)), axis=(1, 2))
    g_norm = jnp.sqrt(jnp.sum(jnp.square(g_hs.astype(jnp.float32)), axis=(1, 2)))
    w_norm = jnp.sqrt(jnp.sum(jnp.square(g_weights.astype(jnp.float32)), axis=(1, 2)))
    return Propagation(forward, g_norm / g_norm[-1], w_norm)


def _positive_int(arg: str, value: Any) -> int:
    value = checks.integer("propagate", arg, value)
    if value < 1:
        raise ValueError(f"propagate: `{arg}` must be >= 1, got {value!r}.")
    return value


def _check_activation(activation: Any) -> None:
    """`propagate`'s ``activation``: a name in `ACTIVATIONS` or a function."""
    if isinstance(activation, str) and activation not in ACTIVATIONS:
        raise ValueError(
            f"propagate: unknown activation {activation!r}"
            + (
                registry.did_you_mean(activation, ACTIVATIONS)
                or f"; choose from {', '.join(ACTIVATIONS)}"
            )
        )
    if not (isinstance(activation, str) or callable(activation)):
        raise TypeError(
            f"propagate: `activation` must be a name or a function, got {activation!r}."
        )


def _draw_network(key, init, depth, width, batch, dtype):
    """`propagate`'s weights (one key per layer), standard-normal inputs and unit direction."""
    k_weights, k_inputs, k_direction = jax.random.split(key, 3)
    weights = jax.vmap(lambda k: init(k, (width, width), dtype))(jax.random.split(k_weights, depth))
    inputs = jax.random.normal(k_inputs, (batch, width), dtype)
    direction = jax.random.normal(k_direction, (batch, width), dtype)
    direction = direction / jnp.sqrt(jnp.sum(jnp.square(direction)))
    return weights, inputs, direction


def propagate(
    key: jax.Array,
    init: Any,
    *,
    depth: int = 64,
    width: int = 512,
    batch: int = 128,
    activation: str | Callable[[jax.Array], jax.Array] = "tanh",
    residual: bool = False,
    residual_scale: float = 1.0,
    dtype: Any = None,
) -> Propagation:
    r"""Measures how a signal and its gradient travel through a deep MLP at init.

    The network of the mean-field analyses of Poole et al. (2016) and Schoenholz
    et al. (2017), without biases: $h^0 = x$, $h^l = \phi(h^{l-1}) W^l$
    ($l = 1, \dots, L$), or with ``residual=True``,
    $h^l = h^{l-1} + \alpha\,\phi(h^{l-1}) W^l$. Every $W^l$ of shape
    ``(width, width)`` is drawn by ``init`` from its own key, the ``batch`` inputs $x$
    are standard normal, and the loss $L = \langle h^L, v \rangle$ projects the output
    on a random unit direction $v$. The forward pass records
    $q^l = \mathrm{mean}((h^l)^2)$, the backward pass $\|\partial L/\partial h^l\|$
    relative to the output layer and $\|\partial L / \partial W^l\|_F$. A good
    initialization keeps both near constant over depth (what each initializer does:
    docs/propagation.md). Pure: under ``jax.jit`` (``init`` and the keyword arguments
    static) or ``jax.vmap`` over keys it returns what it returns eagerly.

    Args:
      key: A PRNG key; the weights, inputs and direction are drawn from it.
      init: An initializer (any ``init(key, shape, dtype)``, jax's included) or
        the catalogue name of one built with default arguments.
      depth: Number of layers $L$, ``>= 1``.
      width: Width of every layer, ``>= 1``.
      batch: Number of inputs, ``>= 1``.
      activation: A name in ``ACTIVATIONS`` (``linear``, ``tanh``, ``relu``,
        ``gelu``, ``silu``, ``selu``, ``elu``, ``leaky_relu``, ``sigmoid``,
        ``softplus``, ``sin``) or a function.
      residual: Use the residual update $h^l = h^{l-1} + \alpha\,\phi(h^{l-1}) W^l$.
      residual_scale: $\alpha$, the branch multiplier (``1`` is a plain
        ResNet block; ``1/sqrt(depth)`` keeps deep residual stacks bounded).
      dtype: dtype of weights and activations (default float32; the statistics
        are accumulated in float32).

    Returns:
      A `Propagation` of ``forward`` ``(depth + 1,)``, ``backward``
      ``(depth + 1,)`` and ``weight_grad`` ``(depth,)``.

    Raises:
      ValueError: for an unknown activation or initializer name, or a size < 1.
      TypeError: for a dtype that is not real floating, or a non-integer size.

    Examples:
      >>> from jax_inits.diagnostics import propagate
      >>> p = propagate(jax.random.key(0), jax_inits.orthogonal(), depth=8, width=64,
      ...               activation="linear")
      >>> p.forward.shape, p.backward.shape, p.weight_grad.shape
      ((9,), (9,), (8,))
      >>> print(f"{float(p.forward[-1] / p.forward[0]):.4f}")  # orthogonal: exact
      1.0000

    References:
      Poole et al., [Exponential expressivity in deep neural networks through
      transient chaos](https://arxiv.org/abs/1606.05340), 2016.
      Schoenholz et al., [Deep Information Propagation](https://arxiv.org/abs/1611.01232), 2017.
      Saxe et al., [Exact solutions to the nonlinear dynamics of learning in deep
      linear neural networks](https://arxiv.org/abs/1312.6120), 2014.
      He et al., [Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852), 2015.
    """
    depth = _positive_int("depth", depth)
    width = _positive_int("width", width)
    batch = _positive_int("batch", batch)
    _check_activation(activation)
    residual_scale = checks.real_number("propagate", "residual_scale", residual_scale)
    dtype = checks.dtype("propagate", jnp.float32 if dtype is None else dtype, random=True)
    if not jnp.issubdtype(dtype, np.floating):
        raise TypeError(f"propagate: `dtype` must be a real floating dtype, got {dtype.name}.")
    weights, inputs, direction = _draw_network(
        key, _as_initializer(init), depth, width, batch, dtype
    )
    return _propagate(weights, inputs, direction, activation, bool(residual), residual_scale)


def status(ratio: float) -> str:
    """``"ok"``, ``"vanishing"`` (< 1e-1) or ``"exploding"`` (> 1e1) for a ratio
    of a last to a first layer statistic; ``"nan"`` when it is not finite.

    Examples:
      >>> from jax_inits.diagnostics import status
      >>> status(1.3), status(1e-5), status(1e9)
      ('ok', 'vanishing', 'exploding')
    """
    if not math.isfinite(ratio):
        return "nan"
    return "vanishing" if ratio < 1e-1 else "exploding" if ratio > 1e1 else "ok"


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    return a / b


def _record(run: dict, p: Propagation, depth, width, batch, residual_scale) -> dict:
    """`sweep`'s JSON-ready record of one `propagate` run (``run``: its names)."""
    forward, backward, weight_grad = (np.asarray(a).tolist() for a in p)
    f_ratio = _ratio(forward[-1], forward[0])
    b_ratio = backward[0]
    return {
        **run,
        "depth": depth,
        "width": width,
        "batch": batch,
        "residual_scale": residual_scale if run["variant"] == "residual" else None,
        "forward": forward,
        "backward": backward,
        "weight_grad": weight_grad,
        "forward_ratio": f_ratio,
        "backward_ratio": b_ratio,
        "forward_status": status(f_ratio),
        "backward_status": status(b_ratio),
    }


def sweep(
    key: jax.Array,
    inits: Sequence[str],
    activations: Sequence[str],
    *,
    variants: Sequence[str] = ("plain",),
    depth: int = 64,
    width: int = 512,
    batch: int = 128,
    residual_scale: float = 1.0,
    dtype: Any = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Runs `propagate` for every variant x activation x initializer name.

    Every run uses the same ``key``, so the runs differ only in what is compared
    (common random numbers).

    Args:
      key: PRNG key shared by every run.
      inits: Catalogue names (built with default arguments).
      activations: Names in ``ACTIVATIONS``.
      variants: Any of ``"plain"`` and ``"residual"``.
      depth: See `propagate`.
      width: See `propagate`.
      batch: See `propagate`.
      residual_scale: See `propagate`.
      dtype: See `propagate`.
      progress: Called with a label after each run (the CLI draws a bar with it).

    Returns:
      One JSON-ready record per run: ``init``, ``activation``, ``variant``, the
      sizes, the lists ``forward``, ``backward``, ``weight_grad``, and
      ``forward_ratio`` ($q^L/q^0$), ``backward_ratio``
      ($\\|\\partial L/\\partial h^0\\| / \\|\\partial L/\\partial h^L\\|$),
      ``forward_status`` and ``backward_status`` (see `status`).

    Examples:
      >>> from jax_inits.diagnostics import sweep
      >>> rows = sweep(jax.random.key(0), ["he_normal"], ["relu", "tanh"], depth=4, width=32)
      >>> [(r["init"], r["activation"], len(r["forward"])) for r in rows]
      [('he_normal', 'relu', 5), ('he_normal', 'tanh', 5)]
    """
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"sweep: `variants` must hold {VARIANTS}, got {variant!r}.")
    built = {name: lookup(name) for name in inits}
    records = []
    for variant in variants:
        for activation in activations:
            for name, init in built.items():
                p = propagate(
                    key,
                    init,
                    depth=depth,
                    width=width,
                    batch=batch,
                    activation=activation,
                    residual=variant == "residual",
                    residual_scale=residual_scale,
                    dtype=dtype,
                )
                run = {"init": name, "activation": activation, "variant": variant}
                records.append(_record(run, p, depth, width, batch, residual_scale))
                if progress is not None:
                    progress(f"{variant} {activation} {name}")
    return records


# --------------------------------------------------------------------------- samples


def bounds(init: Any, shape: Sequence[int], dtype: Any = None) -> tuple[float, float] | None:
    """The real interval every value of ``init(key, shape, dtype)`` lies in, or
    ``None`` when unbounded (or unknown, for initializers from elsewhere).

    ``init.bounds(shape, dtype)`` for jax_inits initializers.

    Examples:
      >>> from jax_inits.diagnostics import bounds
      >>> bounds(jax_inits.truncated_normal(0.5), (4, 4))
      (-1.0, 1.0)
      >>> bounds(jax_inits.normal(), (4, 4)) is None
      True
    """
    method = getattr(init, "bounds", None)
    return None if method is None else method(tuple(shape), dtype)


def rms_deviation(values: Any) -> float:
    """The root mean square deviation of ``values`` from their mean, in float64 on
    the host (of the complex difference for complex values: the std that
    ``target_std`` gives); NaN for an empty array.

    The one std of every table the package prints (``summarize``, ``sample_stats``,
    ``jax-inits list``).

    Examples:
      >>> from jax_inits.diagnostics import rms_deviation
      >>> rms_deviation(np.array([1.0, 3.0])), rms_deviation(np.array([1j, -1j]))
      (1.0, 1.0)
    """
    x = np.asarray(values)
    x = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
    if not x.size:
        return math.nan
    return float(np.sqrt(np.mean(np.abs(x - x.mean()) ** 2)))


def sample_stats(init: Any, key: jax.Array, shape: Sequence[int], dtype: Any = None) -> dict:
    """Draws ``init(key, shape, dtype)`` and returns its statistics.

    ``std`` is the root mean square deviation from the mean (for complex values
    of the modulus, matching `target_std`); ``min`` and ``max`` are of the
    values (of the modulus for complex dtypes); ``lower``/``upper`` are the
    truncation bounds of the initializer (``None`` when unbounded). Statistics are
    computed in float64 on the host.

    Args:
      init: An initializer or a catalogue name.
      key: PRNG key.
      shape: Shape of the sample.
      dtype: dtype of the sample (default: the initializer's).

    Returns:
      A JSON-ready dict with ``initializer``, ``formula``, ``shape``, ``dtype``,
      ``mean``, ``std``, ``min``, ``max``, ``target_std``, ``lower``, ``upper``.

    Examples:
      >>> from jax_inits.diagnostics import sample_stats
      >>> s = sample_stats(jax_inits.he_normal(), jax.random.key(0), (256, 512))
      >>> round(s["target_std"], 4), round(s["std"], 2), s["lower"] < s["min"]
      (0.0884, 0.09, True)
    """
    init = _as_initializer(init)
    shape = checks.shape("sample_stats", shape)
    values = init(key, shape, dtype)
    x = np.asarray(values).astype(np.complex128 if jnp.iscomplexobj(values) else np.float64)
    n = x.size
    complex_ = np.iscomplexobj(x)
    mean = complex(x.mean()) if n else math.nan
    std = rms_deviation(x)
    span = np.abs(x) if complex_ else x
    b = bounds(init, shape, values.dtype)
    return {
        "initializer": repr(init),
        "formula": getattr(init, "formula", "-"),
        "shape": list(shape),
        "dtype": np.dtype(values.dtype).name,
        "mean": mean.real,
        "mean_imag": mean.imag if complex_ else None,
        "std": std,
        "min": float(span.min()) if n else math.nan,
        "max": float(span.max()) if n else math.nan,
        "target_std": _target_std(init, shape),
        "lower": None if b is None else b[0],
        "upper": None if b is None else b[1],
    }


def _target_std(init: Any, shape: tuple[int, ...]) -> float | None:
    """``init.target_std(shape)``, or ``None`` where ``init`` rejects ``shape``."""
    if not hasattr(init, "target_std"):
        return None
    try:
        if hasattr(init, "check"):  # the static shape checks a call would run
            init.check(shape)
        return float(init.target_std(shape))
    except (ValueError, TypeError, IndexError, ZeroDivisionError):
        return None


def target_density(
    init: Any, shape: Sequence[int], dtype: Any = None
) -> tuple[Callable, str] | None:
    """The density of one value of ``init(key, shape, dtype)``, and a label for it.

    ``init.density(shape, dtype)`` for jax_inits initializers (exact for the
    normal, truncated-normal and uniform families and the real variance-scaling
    presets, else a normal reference with the target std); ``None`` for
    initializers from elsewhere, which do not say their distribution.

    Examples:
      >>> from jax_inits.diagnostics import target_density
      >>> pdf, label = target_density(jax_inits.uniform(2.0), (3, 3))
      >>> label, float(pdf(np.array(1.0)))
      ('U[0, 2)', 0.5)
    """
    method = getattr(init, "density", None)
    return None if method is None else method(tuple(shape), dtype)


# --------------------------------------------------------------------------- parameter trees


class LeafSummary(NamedTuple):
    """One leaf of a parameter tree: its path (as `jax_inits.tree` writes it,
    ``"dense/kernel"``), shape, dtype, measured std and
    the std the named initializer targets for that shape (``None`` when it does
    not apply to the shape).

    Examples:
      >>> from jax_inits.diagnostics import summarize
      >>> row = summarize({"w": jnp.ones((2, 3))}, "lecun_normal").rows[0]
      >>> row.path, row.shape, row.dtype, row.std, round(row.target_std, 4)
      ('w', (2, 3), 'float32', 0.0, 0.7071)
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    std: float
    target_std: float | None


@dataclasses.dataclass(frozen=True)
class Summary:
    """A per-leaf table of a parameter tree; ``str()`` renders it as text.

    Attributes:
      rows: One `LeafSummary` per array leaf, in tree order.
      init: ``repr`` of the initializer the target std refers to, or ``None``.

    Examples:
      >>> from jax_inits.diagnostics import summarize
      >>> s = summarize([jnp.zeros((4, 4)), jnp.zeros(4)], jax_inits.orthogonal())
      >>> s.init, [r.target_std for r in s.rows]
      ('orthogonal()', [0.5, None])
      >>> s.to_json()[0]["shape"]
      [4, 4]
    """

    rows: tuple[LeafSummary, ...]
    init: str | None = None

    def __str__(self) -> str:
        header = ("path", "shape", "dtype", "std", "target std", "ratio")
        lines: list[tuple[str, ...]] = [header]
        for r in self.rows:
            ratio = "-" if not r.target_std else f"{r.std / r.target_std:.3g}"
            lines.append(
                (
                    r.path,
                    "x".join(map(str, r.shape)) or "()",
                    r.dtype,
                    f"{r.std:.3g}",
                    "-" if r.target_std is None else f"{r.target_std:.3g}",
                    ratio,
                )
            )
        return format_table(lines)

    def to_json(self) -> list[dict]:
        """The rows as JSON-ready dicts."""
        return [dict(r._asdict(), shape=list(r.shape)) for r in self.rows]


def format_table(lines: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, the first line a header underlined with dashes.

    Examples:
      >>> from jax_inits.diagnostics import format_table
      >>> print(format_table([("a", "bb"), ("ccc", "d")]))
      a    bb
      ---  --
      ccc  d
    """
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def summarize(params: Any, init: Any = None) -> Summary:
    """Tabulates the array leaves of ``params``: path, shape, dtype and std, and
    with ``init`` the std that initializer targets for each leaf's shape.

    Args:
      params: Any pytree (dicts, lists, flax/haiku parameter dicts); leaves that
        are not numeric arrays are skipped.
      init: An initializer or a catalogue name (``"he_normal"``); leaves whose
        shape it does not apply to (a bias for a fan-based initializer) show ``-``.

    Returns:
      A `Summary`; ``print`` it for a table, ``.rows`` for the numbers.

    Examples:
      >>> from jax_inits.diagnostics import summarize
      >>> params = {"w": jax_inits.he_normal()(jax.random.key(0), (512, 256)),
      ...           "b": jnp.zeros(256)}
      >>> print(summarize(params, "he_normal"))
      path  shape    dtype    std     target std  ratio
      ----  -------  -------  ------  ----------  -----
      b     256      float32  0       -           -
      w     512x256  float32  0.0625  0.0625      1
    """
    init_obj = None if init is None else _as_initializer(init)
    rows = []
    paths, leaves, _ = tree.flatten(params)
    for path, leaf in zip(paths, leaves, strict=True):
        if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
            continue
        dt = np.dtype(leaf.dtype)
        if not (jnp.issubdtype(dt, np.number) or jnp.issubdtype(dt, np.bool_)):
            continue
        shape = tuple(int(d) for d in leaf.shape)
        std = rms_deviation(leaf)
        target = None if init_obj is None else _target_std(init_obj, shape)
        rows.append(LeafSummary(path, shape, dt.name, std, target))
    return Summary(tuple(rows), None if init_obj is None else repr(init_obj))
