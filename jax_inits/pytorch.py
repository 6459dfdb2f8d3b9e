"""torch.nn.init semantics as pure JAX builders.

Each builder takes a keyword-only ``layout``: ``"jax"`` (default) for kernels
``(..., in, out)`` with the receptive-field axes first, or ``"torch"`` for torch
weight shapes ``(out, in, *kernel)``. Fans are computed exactly as torch
computes them for the corresponding torch weight, and eye, dirac, orthogonal and
sparse place their structure as torch does.

>>> init = jax_inits.pytorch.kaiming_uniform(a=5 ** 0.5, layout="torch")
>>> init == jax_inits.pytorch.linear_default(layout="torch")
True
"""

from jax_inits._src.gains import calculate_gain as calculate_gain
from jax_inits._src.pytorch import constant as constant
from jax_inits._src.pytorch import conv_default as conv_default
from jax_inits._src.pytorch import dirac as dirac
from jax_inits._src.pytorch import embedding_default as embedding_default
from jax_inits._src.pytorch import eye as eye
from jax_inits._src.pytorch import kaiming_normal as kaiming_normal
from jax_inits._src.pytorch import kaiming_uniform as kaiming_uniform
from jax_inits._src.pytorch import linear_bias_default as linear_bias_default
from jax_inits._src.pytorch import linear_default as linear_default
from jax_inits._src.pytorch import normal as normal
from jax_inits._src.pytorch import ones as ones
from jax_inits._src.pytorch import orthogonal as orthogonal
from jax_inits._src.pytorch import sparse as sparse
from jax_inits._src.pytorch import trunc_normal as trunc_normal
from jax_inits._src.pytorch import uniform as uniform
from jax_inits._src.pytorch import xavier_normal as xavier_normal
from jax_inits._src.pytorch import xavier_uniform as xavier_uniform
from jax_inits._src.pytorch import zeros as zeros

__all__ = (
    "calculate_gain",
    "constant",
    "conv_default",
    "dirac",
    "embedding_default",
    "eye",
    "kaiming_normal",
    "kaiming_uniform",
    "linear_bias_default",
    "linear_default",
    "normal",
    "ones",
    "orthogonal",
    "sparse",
    "trunc_normal",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
)
