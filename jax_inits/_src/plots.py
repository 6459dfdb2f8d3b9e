"""PNG plots of the diagnostics. matplotlib is imported inside each function, so
``import jax_inits`` never imports it (it comes with ``pip install 'jax-inits[cli]'``).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot): no global
state, no GUI backend, safe in threads and notebooks alike.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jax_inits plots need matplotlib: pip install 'jax-inits[cli]'"
        ) from error
    return Figure(layout="constrained", **kwargs)


def _save(fig, path: str | os.PathLike) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_histogram(
    values: Any,
    path: str | os.PathLike,
    *,
    density: tuple[Callable, str] | None = None,
    bounds: tuple[float, float] | None = None,
    bins: int = 100,
    title: str = "",
) -> pathlib.Path:
    """Writes a PNG histogram of ``values`` (a density) with the target density.

    Args:
      values: Array of samples (complex values: their real parts).
      path: PNG file to write (parent folders are created).
      density: ``(pdf, label)`` as returned by
        `jax_inits.diagnostics.target_density`, drawn over the histogram.
      bounds: Truncation bounds, drawn as dashed vertical lines.
      bins: Number of histogram bins.
      title: Figure title.

    Returns:
      The path written.

    Examples:
      >>> import os, tempfile
      >>> from jax_inits.diagnostics import plot_histogram, target_density
      >>> init = jax_inits.normal(1.0)
      >>> path = os.path.join(tempfile.mkdtemp(), "normal.png")
      >>> written = plot_histogram(init(jax.random.key(0), (1000,)), path,
      ...                          density=target_density(init, (1000,)))
      >>> written.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
      True
    """
    x = np.asarray(values)
    x = (np.real(x) if np.iscomplexobj(x) else x).astype(np.float64).ravel()
    fig = _figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    finite = x[np.isfinite(x)]
    if finite.size:
        ax.hist(finite, bins=bins, density=True, color="#9ecae1", label=f"sample (n={x.size})")
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = -1.0, 1.0
    if density is not None and hi > lo:
        pad = 0.1 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 801)
        pdf, label = density
        ax.plot(grid, pdf(grid), color="#d62728", lw=1.6, label=f"target {label}")
    if bounds is not None:
        for b in bounds:
            if math.isfinite(b):
                ax.axvline(b, color="k", ls="--", lw=0.8)
        ax.plot([], [], color="k", ls="--", lw=0.8, label="truncation bounds")
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)


def _log_scale_if_positive(ax, arrays: Sequence[np.ndarray]) -> None:
    if any(np.any(np.isfinite(a) & (a > 0)) for a in arrays):
        ax.set_yscale("log")


def plot_propagation(
    records: Sequence[dict], path: str | os.PathLike, *, title: str | None = None
) -> pathlib.Path:
    """Writes a PNG of forward variance and backward gradient norm against depth.

    One column per activation; per variant (plain, residual) a row of forward
    $q^l$ and a row of relative gradient norms; one line per initializer.
    Log scale; values that are not finite (overflow) or not positive are left out.

    Args:
      records: Output of `jax_inits.diagnostics.sweep`.
      path: PNG file to write (parent folders are created).
      title: Figure title (default: the sizes).

    Returns:
      The path written.

    Examples:
      >>> import os, tempfile
      >>> from jax_inits.diagnostics import plot_propagation, sweep
      >>> rows = sweep(jax.random.key(0), ["he_normal", "orthogonal"], ["relu"],
      ...              depth=4, width=16)
      >>> path = plot_propagation(rows, os.path.join(tempfile.mkdtemp(), "p.png"))
      >>> path.stat().st_size > 1000
      True
    """
    if not records:
        raise ValueError("plot_propagation: `records` is empty.")
    activations = list(dict.fromkeys(r["activation"] for r in records))
    variants = list(dict.fromkeys(r["variant"] for r in records))
    inits = list(dict.fromkeys(r["init"] for r in records))
    colors = {name: f"C{i % 10}" for i, name in enumerate(inits)}
    n_rows, n_cols = 2 * len(variants), len(activations)
    fig = _figure(figsize=(3.4 * n_cols + 0.6, 2.5 * n_rows + 0.6))
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True)
    for r in records:
        row = 2 * variants.index(r["variant"])
        col = activations.index(r["activation"])
        for offset, key in enumerate(("forward", "backward")):
            y = np.array(r[key], dtype=np.float64)
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            axes[row + offset, col].plot(
                np.arange(y.size), y, color=colors[r["init"]], lw=1.4, label=r["init"]
            )
    for row in range(n_rows):
        variant = variants[row // 2]
        what = "forward $q^l$" if row % 2 == 0 else r"backward $|dL/dh^l|\,/\,|dL/dh^L|$"
        for col in range(n_cols):
            ax = axes[row, col]
            _log_scale_if_positive(ax, [line.get_ydata() for line in ax.get_lines()])
            ax.grid(True, which="major", alpha=0.3)
            if row == 0:
                ax.set_title(activations[col])
            if col == 0:
                ax.set_ylabel(f"{variant}\n{what}", fontsize="small")
            if row == n_rows - 1:
                ax.set_xlabel("layer l")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(inits), 6))
    first = records[0]
    fig.suptitle(
        title
        or f"signal propagation at init: depth {first['depth']}, width {first['width']}, "
        f"batch {first['batch']}"
    )
    return _save(fig, path)
