"""jax_inits: JAX weight initializers, a drop-in superset of jax.nn.initializers.

Every initializer is a pure ``init(key, shape, dtype=None, out_sharding=None)``.

Every public submodule is an attribute: ``pytorch`` and ``recipes`` (whose builders
are registered by name) are imported with the package; ``diagnostics``, ``equinox``,
``flax``, ``haiku``, ``mup``, ``presets``, ``sampling`` and ``tree`` on first access
(``jax_inits.tree.init(...)`` after ``import jax_inits``), so that ``import jax_inits``
stays light.
"""

import importlib
from typing import TYPE_CHECKING

from jax_inits import pytorch as pytorch
from jax_inits import recipes as recipes
from jax_inits._src.base import Initializer as Initializer
from jax_inits._src.caches import clear_caches as clear_caches
from jax_inits._src.complex_valued import complex_glorot as complex_glorot
from jax_inits._src.complex_valued import complex_he as complex_he
from jax_inits._src.complex_valued import complex_uniform as complex_uniform
from jax_inits._src.complex_valued import haar_unitary as haar_unitary
from jax_inits._src.constant import constant as constant
from jax_inits._src.constant import ones as ones
from jax_inits._src.constant import zeros as zeros
from jax_inits._src.distributions import normal as normal
from jax_inits._src.distributions import truncated_normal as truncated_normal
from jax_inits._src.distributions import uniform as uniform
from jax_inits._src.distributions import uniform_range as uniform_range
from jax_inits._src.gains import calculate_gain as calculate_gain
from jax_inits._src.orthogonal import delta_orthogonal as delta_orthogonal
from jax_inits._src.orthogonal import orthogonal as orthogonal
from jax_inits._src.registry import from_config as from_config
from jax_inits._src.registry import get as get
from jax_inits._src.registry import registered as registered
from jax_inits._src.structural import dirac as dirac
from jax_inits._src.structural import grouped as grouped
from jax_inits._src.structural import identity as identity
from jax_inits._src.structural import sparse as sparse
from jax_inits._src.structural import stacked as stacked
from jax_inits._src.structural import zero_row as zero_row
from jax_inits._src.variance_scaling import compute_fans as compute_fans
from jax_inits._src.variance_scaling import einsum_axes as einsum_axes
from jax_inits._src.variance_scaling import glorot_normal as glorot_normal
from jax_inits._src.variance_scaling import glorot_uniform as glorot_uniform
from jax_inits._src.variance_scaling import he_normal as he_normal
from jax_inits._src.variance_scaling import he_uniform as he_uniform
from jax_inits._src.variance_scaling import lecun_normal as lecun_normal
from jax_inits._src.variance_scaling import lecun_uniform as lecun_uniform
from jax_inits._src.variance_scaling import variance_scaling as variance_scaling

if TYPE_CHECKING:  # the lazy submodules, for type checkers and IDEs
    from jax_inits import diagnostics as diagnostics
    from jax_inits import equinox as equinox
    from jax_inits import flax as flax
    from jax_inits import haiku as haiku
    from jax_inits import mup as mup
    from jax_inits import presets as presets
    from jax_inits import sampling as sampling
    from jax_inits import tree as tree

__version__ = "0.1.0"

#: Public submodules imported on first attribute access (module ``__getattr__``).
_LAZY_SUBMODULES = ("diagnostics", "equinox", "flax", "haiku", "mup", "presets", "sampling", "tree")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # also sets the attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


kaiming_normal = he_normal
kaiming_uniform = he_uniform
xavier_normal = glorot_normal
xavier_uniform = glorot_uniform

__all__ = (
    "Initializer",
    "calculate_gain",
    "clear_caches",
    "complex_glorot",
    "complex_he",
    "complex_uniform",
    "compute_fans",
    "constant",
    "delta_orthogonal",
    "dirac",
    "einsum_axes",
    "from_config",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "grouped",
    "haar_unitary",
    "he_normal",
    "he_uniform",
    "identity",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "pytorch",
    "recipes",
    "registered",
    "sparse",
    "stacked",
    "truncated_normal",
    "uniform",
    "uniform_range",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zero_row",
    "zeros",
)
