"""jax_inits: JAX weight initializers, a drop-in superset of jax.nn.initializers.

Every initializer is a pure ``init(key, shape, dtype=None, out_sharding=None)``.
"""

from jax_inits import recipes as recipes
from jax_inits._src.base import Initializer as Initializer
from jax_inits._src.constant import constant as constant
from jax_inits._src.constant import ones as ones
from jax_inits._src.constant import zeros as zeros
from jax_inits._src.distributions import normal as normal
from jax_inits._src.distributions import truncated_normal as truncated_normal
from jax_inits._src.distributions import uniform as uniform
from jax_inits._src.distributions import uniform_range as uniform_range
from jax_inits._src.orthogonal import delta_orthogonal as delta_orthogonal
from jax_inits._src.orthogonal import orthogonal as orthogonal
from jax_inits._src.registry import from_config as from_config
from jax_inits._src.registry import get as get
from jax_inits._src.registry import registered as registered
from jax_inits._src.variance_scaling import compute_fans as compute_fans
from jax_inits._src.variance_scaling import glorot_normal as glorot_normal
from jax_inits._src.variance_scaling import glorot_uniform as glorot_uniform
from jax_inits._src.variance_scaling import he_normal as he_normal
from jax_inits._src.variance_scaling import he_uniform as he_uniform
from jax_inits._src.variance_scaling import lecun_normal as lecun_normal
from jax_inits._src.variance_scaling import lecun_uniform as lecun_uniform
from jax_inits._src.variance_scaling import variance_scaling as variance_scaling

__version__ = "0.1.0"

kaiming_normal = he_normal
kaiming_uniform = he_uniform
xavier_normal = glorot_normal
xavier_uniform = glorot_uniform

__all__ = (
    "Initializer",
    "compute_fans",
    "constant",
    "delta_orthogonal",
    "from_config",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "recipes",
    "registered",
    "truncated_normal",
    "uniform",
    "uniform_range",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
)
