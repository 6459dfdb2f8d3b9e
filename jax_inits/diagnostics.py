"""Diagnostics: does the signal survive 64 tanh layers with this initializer?

- `propagate`: forward variance and backward gradient norm per layer of a
  deep MLP (plain or residual) at initialization; `sweep` runs it over
  initializers x activations x variants.
- `sample_stats`, `bounds`, `target_density`: statistics of one
  sample against what the initializer targets.
- `summarize`: a per-leaf table of a parameter tree (shape, dtype, std and
  the std a named initializer targets).
- `coord_check`: the activation scale of every layer after a few
  training steps, across widths (flat under muP, growing under SP);
  `coord_check_mlp` is a ready model for it, `coord_check_residual` a
  ready depth sweep (flat under Depth-μP/CompleteP), `plot_coord_check`
  its plot.
- `memory`: the bytes of a parameter tree per device and per process on a
  mesh (concrete or abstract), from shapes and shardings alone: what to check
  before launching on a pod.
- `plot_propagation`, `plot_histogram`: PNG plots (matplotlib,
  imported on first use; ``pip install 'jax-inits[cli]'``).

The same diagnostics are on the command line: ``jax-inits sample``,
``jax-inits propagate`` and ``jax-inits memory``.
"""

from jax_inits._src.coord_check import CoordCheck as CoordCheck
from jax_inits._src.coord_check import coord_check as coord_check
from jax_inits._src.coord_check import coord_check_mlp as coord_check_mlp
from jax_inits._src.coord_check import coord_check_residual as coord_check_residual
from jax_inits._src.coord_check import plot_coord_check as plot_coord_check
from jax_inits._src.diagnostics import ACTIVATIONS as ACTIVATIONS
from jax_inits._src.diagnostics import LeafSummary as LeafSummary
from jax_inits._src.diagnostics import Propagation as Propagation
from jax_inits._src.diagnostics import Summary as Summary
from jax_inits._src.diagnostics import bounds as bounds
from jax_inits._src.diagnostics import format_table as format_table
from jax_inits._src.diagnostics import propagate as propagate
from jax_inits._src.diagnostics import rms_deviation as rms_deviation
from jax_inits._src.diagnostics import sample_stats as sample_stats
from jax_inits._src.diagnostics import status as status
from jax_inits._src.diagnostics import summarize as summarize
from jax_inits._src.diagnostics import sweep as sweep
from jax_inits._src.diagnostics import target_density as target_density
from jax_inits._src.memory import LeafMemory as LeafMemory
from jax_inits._src.memory import Memory as Memory
from jax_inits._src.memory import memory as memory
from jax_inits._src.plots import plot_histogram as plot_histogram
from jax_inits._src.plots import plot_propagation as plot_propagation

__all__ = (
    "ACTIVATIONS",
    "CoordCheck",
    "LeafMemory",
    "LeafSummary",
    "Memory",
    "Propagation",
    "Summary",
    "bounds",
    "coord_check",
    "coord_check_mlp",
    "coord_check_residual",
    "format_table",
    "memory",
    "plot_coord_check",
    "plot_histogram",
    "plot_propagation",
    "propagate",
    "rms_deviation",
    "sample_stats",
    "status",
    "summarize",
    "sweep",
    "target_density",
)
