"""Coordinate checks: does every layer's activation scale stay put as the width grows?

A width parametrization is right when, after a few steps of training, the size
of a typical coordinate of every layer's output (its mean absolute value) does
not depend on the width: flat lines across widths under muP, lines that grow
with width under the standard parametrization (Yang et al., Tensor Programs V,
Figure 5; microsoft/mup's ``coord_check``).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jax_inits._src import checks, constant, mup, u_mup, variance_scaling


@dataclasses.dataclass(frozen=True)
class CoordCheck:
    """The result of `coord_check`.

    Attributes:
      widths: The widths, in the order given.
      steps: The number of optimizer steps taken at each width.
      sizes: Layer name -> array ``(len(widths), steps + 1)`` of the mean
        absolute value of that layer's output on the batch, at initialization
        (column 0) and after each step.
      axis: What ``widths`` holds: ``"width"``, or ``"depth"`` for a depth sweep
        (`coord_check_residual`; ``widths`` are then the depths).

    Examples:
      >>> import numpy as np
      >>> from jax_inits.diagnostics import CoordCheck
      >>> r = CoordCheck((64, 256), 1, {"h": np.array([[0.5, 0.5], [0.5, 2.0]])})
      >>> r.growth(), r.growth(step=0)
      ({'h': 4.0}, {'h': 1.0})
    """

    widths: tuple[int, ...]
    steps: int
    sizes: dict[str, np.ndarray]
    axis: str = "width"

    def growth(self, step: int = -1) -> dict[str, float]:
        """Layer -> its coordinate size at the widest width over that at the narrowest.

        About 1 when the layer's scale is width-independent (muP); about
        ``(widest / narrowest) ** k`` when it grows like ``width ** k``.
        """
        lo, hi = int(np.argmin(self.widths)), int(np.argmax(self.widths))
        return {name: float(s[hi, step] / s[lo, step]) for name, s in self.sizes.items()}

    def __str__(self) -> str:
        ratio = "widest/narrowest" if self.axis == "width" else "deepest/shallowest"
        header = ["layer", *(f"{self.axis[0]}={w}" for w in self.widths), ratio]
        lines = [header]
        growth = self.growth()
        for name, s in self.sizes.items():
            lines.append([name, *(f"{v:.3g}" for v in s[:, -1]), f"{growth[name]:.2f}"])
        cols = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = [f"coordinate size (mean |x|) after {self.steps} steps"]
        for line in lines:
            out.append("  ".join(cell.rjust(c) for cell, c in zip(line, cols, strict=True)))
        return "\n".join(out)


Setup = Callable[[int, jax.Array], tuple[Any, Callable, Any]]


def coord_check(
    setup: Setup,
    widths: Sequence[int],
    batch: Any,
    *,
    steps: int = 4,
    seed: int = 0,
    axis: str = "width",
) -> CoordCheck:
    r"""Measures every layer's coordinate size over a few training steps, per width.

    For each width, ``setup(width, key)`` builds the model; then ``steps`` times:
    the forward pass on ``batch`` records $\mathrm{mean}|x|$ of each layer's
    output, and one optimizer step is taken on the loss (one more forward pass
    records the sizes after the last step).

    Args:
      setup: ``setup(width, key) -> (params, apply, tx)``: the parameters at that
        width, ``apply(params, batch) -> (loss, activations)`` with
        ``activations`` a dict layer name -> array (the same names at every
        width), and an optax-style ``tx`` (``tx.init(params)``,
        ``tx.update(grads, state, params) -> (updates, state)``).
      widths: Two or more widths.
      batch: The input of ``apply`` (any pytree), the same at every width and step.
      steps: Optimizer steps, ``>= 1``.
      seed: Seed of the key given to ``setup``.
      axis: ``"width"``, or ``"depth"`` when ``setup`` takes a depth (`coord_check_residual`):
        the sweep is the same, only the labels change.

    Returns:
      A `CoordCheck`; print it for a table, see `CoordCheck.growth`.

    Raises:
      ValueError: If ``widths`` has fewer than two entries, ``steps < 1``, or the
        layer names differ between widths.

    Examples:
      >>> import pytest; _ = pytest.importorskip("optax")  # coord_check_mlp trains with it
      >>> from jax_inits.diagnostics import coord_check, coord_check_mlp
      >>> setup, batch = coord_check_mlp("mup", base_width=32)
      >>> result = coord_check(setup, [32, 128], batch, steps=2)
      >>> sorted(result.sizes), result.sizes["hidden1"].shape
      (['hidden1', 'hidden2', 'output'], (2, 3))
    """
    fn = "coord_check"
    if not callable(setup):
        raise TypeError(f"{fn}: `setup` must be callable, got {setup!r}.")
    widths = tuple(checks.integer(fn, "widths", w) for w in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"{fn}: `widths` must be two or more widths >= 1, got {widths!r}.")
    if axis not in ("width", "depth"):
        raise ValueError(f"{fn}: `axis` must be one of ('width', 'depth'), got {axis!r}.")
    steps = checks.integer(fn, "steps", steps)
    if steps < 1:
        raise ValueError(f"{fn}: `steps` must be >= 1, got {steps!r}.")
    rows: dict[str, list[list[float]]] = {}
    names = None
    for width in widths:
        params, apply, tx = setup(width, jax.random.key(seed))
        sizes, layer_names = _train(params, apply, tx, batch, steps)
        if names is None:
            names = layer_names
        elif layer_names != names:
            raise ValueError(
                f"{fn}: `apply` must return the same activation names at every width, got "
                f"{names} and {layer_names} (width {width})."
            )
        for name in names:
            rows.setdefault(name, []).append([s[name] for s in sizes])
    sizes = {k: np.asarray(v, np.float64) for k, v in rows.items()}
    return CoordCheck(widths, steps, sizes, axis)


def _train(params, apply, tx, batch, steps):
    def sizes_of(activations):
        return {k: jnp.mean(jnp.abs(v)) for k, v in activations.items()}

    @jax.jit
    def step(params, state):
        (loss, acts), grads = jax.value_and_grad(apply, has_aux=True)(params, batch)
        updates, state = tx.update(grads, state, params)
        params = jax.tree.map(lambda p, u: p + u.astype(p.dtype), params, updates)
        return params, state, sizes_of(acts)

    @jax.jit
    def measure(params):
        return sizes_of(apply(params, batch)[1])

    names: list[str] = []

    def probe(params):  # the order `apply` gives its layers in (jit sorts dict keys)
        names.extend(apply(params, batch)[1])
        return 0

    jax.eval_shape(probe, params)
    state = tx.init(params)
    history = []
    for _ in range(steps):
        params, state, sizes = step(params, state)
        history.append({k: float(sizes[k]) for k in names})
    after = measure(params)
    history.append({k: float(after[k]) for k in names})
    return history, names


def coord_check_mlp(
    scheme: str = "mup",
    *,
    base_width: int = 64,
    lr: float = 0.01,
    batch_size: int = 256,
    d_in: int = 32,
    classes: int = 10,
    seed: int = 0,
):
    r"""A ready setup for `coord_check`: a 3-layer ReLU MLP trained with Adam.

    ``d_in -> width -> width -> classes`` (kernels lecun-normal, biases zero, as
    at ``base_width``) parametrized by `jax_inits.mup.parametrize` with
    ``scheme``; cross-entropy on a fixed synthetic batch (Gaussian inputs,
    random labels). Layers: ``hidden1``, ``hidden2`` (post-ReLU) and ``output``
    (the logits, after the readout multiplier).

    Args:
      scheme: ``"mup"``, ``"sp"`` or ``"spectral"``.
      base_width: The width the base learning rate belongs to.
      lr: Adam's learning rate at the base width.
      batch_size: Examples in the batch.
      d_in: Input features.
      classes: Output classes.
      seed: Seed of the synthetic batch.

    Returns:
      ``(setup, batch)`` to pass to `coord_check`. Needs optax.

    Examples:
      >>> import pytest; _ = pytest.importorskip("optax")
      >>> from jax_inits.diagnostics import coord_check_mlp
      >>> setup, (x, y) = coord_check_mlp("sp", base_width=16)
      >>> x.shape, y.shape
      ((256, 32), (256,))
    """
    with checks.needs("diagnostics.coord_check_mlp", "optax"):
        import optax

    x, y = _synthetic_batch(seed, batch_size, d_in, classes)

    def spec(width):
        s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
        return {
            "hidden1": {"kernel": s(d_in, width), "bias": s(width)},
            "hidden2": {"kernel": s(width, width), "bias": s(width)},
            "output": {"kernel": s(width, classes), "bias": s(classes)},
        }

    rules = [("*/bias", constant.zeros), ("*", variance_scaling.lecun_normal())]

    def setup(width, key):
        p = mup.parametrize(
            spec(width),
            spec(base_width),
            readout="output/*",
            init=rules,
            scheme=scheme,  # pyright: ignore[reportArgumentType]
        )
        mult = p.forward_mult["output/kernel"]

        def apply(params, batch):
            x, y = batch
            h1 = jax.nn.relu(x @ params["hidden1"]["kernel"] + params["hidden1"]["bias"][None])
            h2 = jax.nn.relu(h1 @ params["hidden2"]["kernel"] + params["hidden2"]["bias"][None])
            logits = (h2 * mult) @ params["output"]["kernel"] + params["output"]["bias"][None]
            return _cross_entropy(logits, y), {"hidden1": h1, "hidden2": h2, "output": logits}

        return (
            p.init(key),
            apply,
            _StandardPromotion(optax.chain(optax.adam(lr), p.scale_updates("adam"))),
        )

    return setup, (x, y)


def coord_check_residual(
    scheme: str = "complete_p",
    *,
    width: int = 64,
    base_depth: int = 2,
    lr: float = 0.01,
    batch_size: int = 256,
    d_in: int = 32,
    classes: int = 10,
    seed: int = 0,
):
    r"""A ready depth sweep for `coord_check`: a pre-LN residual MLP trained with AdamW.

    ``setup(depth, key)`` builds ``d_in -> width``, then ``depth`` blocks
    $h \leftarrow h + r\, W_2\, \mathrm{relu}(W_1 \mathrm{LN}(h))$ (biases, LN gains;
    stacked on a leading layer axis), then a readout to ``classes``, parametrized by
    `jax_inits.mup.parametrize` with ``scheme`` at ``base_depth`` (width fixed, so
    $m_N = 1$; kernels lecun-normal, biases zero, gains one) and trained on a fixed
    synthetic batch with `Parametrization.adamw` (per-leaf lr and $\epsilon$).
    $r$ is `Parametrization.residual_mult` ($m_L^{-\alpha}$; 1 under the width-only
    schemes); under ``"u_mup"`` the blocks mix as $(\tau_i f + h)/\sqrt{1 + \tau_i^2}$
    with `residual_tau` and every layer's output takes its forward multiplier.

    The recorded "layers" are feature *updates*: the mean $|h(t) - h(0)|$ of the
    residual stream after the first, middle and last block and of the logits, after
    each step. Under the depth schemes they stay put as the depth grows; under the
    width-only schemes they grow with it.

    Args:
      scheme: One of `jax_inits.mup.SCHEMES`.
      width: The width (fixed across depths).
      base_depth: The depth the base learning rate belongs to.
      lr: AdamW's learning rate at ``base_depth``.
      batch_size: Examples in the batch.
      d_in: Input features.
      classes: Output classes.
      seed: Seed of the synthetic batch.

    Returns:
      ``(setup, batch)`` to pass to ``coord_check(..., axis="depth")``. Needs optax.

    Examples:
      >>> import pytest; _ = pytest.importorskip("optax")
      >>> from jax_inits.diagnostics import coord_check_residual
      >>> setup, (x, y) = coord_check_residual("complete_p", width=16, batch_size=32)
      >>> params, apply, tx = setup(4, jax.random.key(0))
      >>> params["blocks"]["fc1"]["kernel"].shape
      (4, 16, 16)
      >>> loss, updates = apply(params, (x, y))
      >>> list(updates)
      ['update block 1', 'update block L/2', 'update block L', 'update logits']
      >>> float(updates["update block L"].max())  # the parameters have not moved
      0.0
    """
    x, y = _synthetic_batch(seed, batch_size, d_in, classes)
    spec = lambda depth: _residual_spec(depth, d_in, width, classes)  # noqa: E731

    def setup(depth, key):
        p = mup.parametrize(
            spec(depth),
            None if scheme == "u_mup" else spec(base_depth),
            readout="output/*",
            init=_RESIDUAL_RULES,
            scheme=scheme,  # pyright: ignore[reportArgumentType]
            blocks="blocks/*",
            layer_axis=0,
        )
        model = _Residual(scheme, p.multipliers("forward_mult"), p.residual_mult, depth)
        params0 = p.init(key)
        return params0, model.updates_since(params0, x), _StandardPromotion(p.adamw(lr))

    return setup, (x, y)


def _synthetic_batch(seed, batch_size, d_in, classes):
    """Gaussian inputs and random labels, fixed by ``seed``."""
    batch_key, label_key = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(batch_key, (batch_size, d_in), jnp.float32)
    y = jax.random.randint(label_key, (batch_size,), 0, classes)
    return x, y


def _cross_entropy(logits, y):
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _residual_spec(depth, d_in, width, classes):
    s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    return {
        "input": {"kernel": s(d_in, width), "bias": s(width)},
        "blocks": {
            "ln": {"scale": s(depth, width)},
            "fc1": {"kernel": s(depth, width, width), "bias": s(depth, width)},
            "fc2": {"kernel": s(depth, width, width), "bias": s(depth, width)},
        },
        "output": {"kernel": s(width, classes), "bias": s(classes)},
    }


_RESIDUAL_RULES = [
    ("*/scale", constant.ones),
    ("*/bias", constant.zeros),
    ("blocks/*", variance_scaling.lecun_normal(batch_axis=0)),
    ("*", variance_scaling.lecun_normal()),
]


def _layer_norm(h, scale):
    mu = h.mean(-1, keepdims=True)
    h = (h - mu) / jnp.sqrt(jnp.square(h - mu).mean(-1, keepdims=True) + 1e-5)
    return h * scale[None]


def _linear(h, layer, mult):
    return (h @ layer["kernel"] + layer["bias"][None]) * mult


class _Residual:
    """`coord_check_residual`'s model at one depth: its features and their updates."""

    def __init__(self, scheme: str, fm: Any, residual_mult: float, depth: int):
        self.scheme, self.fm, self.depth = scheme, fm, depth
        if scheme == "u_mup":
            self.taus = jnp.asarray([u_mup.residual_tau(i, depth) for i in range(depth)])
            self.mix = lambda h, f, t: (t * f + h) / jnp.sqrt(1.0 + t * t)
        else:
            self.taus = jnp.zeros((depth,))
            self.mix = lambda h, f, t: h + residual_mult * f

    def features(self, params, x):
        fm = self.fm
        h = _linear(x, params["input"], fm["input"]["kernel"])
        m1, m2 = fm["blocks"]["fc1"]["kernel"], fm["blocks"]["fc2"]["kernel"]

        def block(h, layer_and_tau):
            layer, tau = layer_and_tau
            z = jax.nn.relu(_linear(_layer_norm(h, layer["ln"]["scale"]), layer["fc1"], m1))
            f = _linear(z, layer["fc2"], m2)
            h = self.mix(h, f, tau)
            return h, h

        _, hs = jax.lax.scan(block, h, (params["blocks"], self.taus))
        out = params["output"]
        if self.scheme == "u_mup":
            logits = _linear(hs[-1], out, fm["output"]["kernel"])
        else:
            logits = (hs[-1] * fm["output"]["kernel"]) @ out["kernel"] + out["bias"][None]
        picks = {"block 1": hs[0], "block L/2": hs[(self.depth - 1) // 2], "block L": hs[-1]}
        return {**picks, "logits": logits}

    def updates_since(self, params0, x0):
        """``apply(params, batch) -> (loss, {"update <layer>": h - h(params0)})``."""
        feats0 = self.features(params0, x0)

        def apply(params, batch):
            x, y = batch
            feats = self.features(params, x)
            loss = _cross_entropy(feats["logits"], y)
            # Unchanged parameters have no update: exactly 0 (not the rounding difference
            # between this compiled forward pass and the eager one of feats0).
            moved = jnp.stack([jnp.any(a != b) for a, b in zip(
                jax.tree.leaves(params), jax.tree.leaves(params0), strict=True)]).any()  # fmt: skip
            return loss, {
                f"update {k}": jnp.where(moved, v - feats0[k], 0.0) for k, v in feats.items()
            }

        return apply


@dataclasses.dataclass(frozen=True)
class _StandardPromotion:
    """An optax transformation traced under standard dtype promotion (optax mixes
    int32 step counts with floats, which ``jax_numpy_dtype_promotion="strict"`` rejects)."""

    tx: Any

    def init(self, params):
        with jax.numpy_dtype_promotion("standard"):
            return self.tx.init(params)

    def update(self, updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return self.tx.update(updates, state, params)


def plot_coord_check(
    results: dict[str, CoordCheck] | CoordCheck, path: str | os.PathLike
) -> pathlib.Path:
    """Writes a PNG: coordinate size vs width, one panel per scheme and step.

    Args:
      results: A `CoordCheck`, or a dict title -> result (e.g. ``{"SP": ...,
        "muP": ...}``), one row of panels each.
      path: The PNG file (parent folders are created).

    Returns:
      The path written.

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> from jax_inits.diagnostics import CoordCheck, plot_coord_check
      >>> r = CoordCheck((64, 256), 1, {"h": np.ones((2, 2))})
      >>> with tempfile.TemporaryDirectory() as d:
      ...     print(plot_coord_check({"muP": r}, pathlib.Path(d) / "cc.png").name)
      cc.png
    """
    from jax_inits._src.plots import _figure, _save

    if isinstance(results, CoordCheck):
        results = {"": results}
    steps = max(r.steps for r in results.values())
    # Step 0 of feature updates (a depth sweep) is 0 everywhere: nothing to draw on a log scale.
    first = int(all((s[:, 0] == 0).all() for r in results.values() for s in r.sizes.values()))
    cols = min(steps + 1 - first, 4)
    picks = sorted({first + round(i * (steps - first) / max(cols - 1, 1)) for i in range(cols)})
    fig = _figure(figsize=(3.2 * len(picks), 2.8 * len(results)))
    axes = fig.subplots(len(results), len(picks), squeeze=False, sharey=True)
    for row, (title, result) in enumerate(results.items()):
        for col, t in enumerate(picks):
            ax = axes[row][col]
            for name, sizes in result.sizes.items():
                ax.plot(result.widths, sizes[:, min(t, result.steps)], marker="o", label=name)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{title} step {t}".strip(), fontsize=9)
            ax.set_xlabel(result.axis, fontsize=8)
            if col == 0:
                ax.set_ylabel("mean |x|", fontsize=8)
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)
