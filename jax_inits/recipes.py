"""Initialization recipes from the literature: transformer, residual and
convolution inits as papers and reference codebases define them.

Every builder is registered as ``"recipes.<name>"``, so
``jax_inits.get("recipes.small_init", 512)`` and configs work as for the
top-level builders. ``distribution`` is always one of ``"normal"``,
``"truncated_normal"``, ``"uniform"``, and ``std`` is the standard deviation of
the *result*. ``InitDistribution`` and ``InitFnName`` are the ``Literal`` types
of ``distribution`` and of `common_init`'s ``fn_name``, under xlstm_jax's
names.

>>> init = jax_inits.get("recipes.small_init", 512)
>>> init
recipes.small_init(512)
>>> init(jax.random.key(0), (512, 2048)).shape
(512, 2048)
>>> import typing
>>> typing.get_args(jax_inits.recipes.InitFnName)
('small', 'wang', 'wang2', 'zeros')
"""

from jax_inits._src.recipes import InitDistribution as InitDistribution
from jax_inits._src.recipes import InitFnName as InitFnName
from jax_inits._src.recipes import block_orthogonal as block_orthogonal
from jax_inits._src.recipes import common_init as common_init
from jax_inits._src.recipes import deepnet as deepnet
from jax_inits._src.recipes import deepnorm_alpha as deepnorm_alpha
from jax_inits._src.recipes import deepnorm_beta as deepnorm_beta
from jax_inits._src.recipes import fixup as fixup
from jax_inits._src.recipes import mitchell as mitchell
from jax_inits._src.recipes import scaled_residual as scaled_residual
from jax_inits._src.recipes import small_init as small_init
from jax_inits._src.recipes import t_fixup as t_fixup
from jax_inits._src.recipes import t_fixup_embedding as t_fixup_embedding
from jax_inits._src.recipes import uniform_init as uniform_init
from jax_inits._src.recipes import wang_init as wang_init
from jax_inits._src.recipes import zero_init as zero_init

__all__ = (
    "InitDistribution",
    "InitFnName",
    "block_orthogonal",
    "common_init",
    "deepnet",
    "deepnorm_alpha",
    "deepnorm_beta",
    "fixup",
    "mitchell",
    "scaled_residual",
    "small_init",
    "t_fixup",
    "t_fixup_embedding",
    "uniform_init",
    "wang_init",
    "zero_init",
)
