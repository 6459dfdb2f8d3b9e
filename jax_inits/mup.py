"""Width and depth parametrizations: muP, spectral, SP, Depth-μP, CompleteP and u-μP.

`parametrize` compares the model at its target width with the same model
at a base width (and optionally a second width, ``delta``) and returns a
`Parametrization`: per leaf its role, width multiplier, initialization
std and the learning-rate, weight-decay and forward multipliers of microsoft/mup
1.0.0, the scaled ``jax_inits.tree`` rules, and optax transformations applying
the multipliers.
"""

from jax_inits._src.mup import Parametrization as Parametrization
from jax_inits._src.mup import parametrize as parametrize
from jax_inits._src.mup_optim import OPTIMIZERS as OPTIMIZERS
from jax_inits._src.mup_roles import ROLES as ROLES
from jax_inits._src.mup_roles import Role as Role
from jax_inits._src.mup_schemes import SCHEMES as SCHEMES
from jax_inits._src.mup_schemes import LeafScaling as LeafScaling
from jax_inits._src.mup_schemes import Scheme as Scheme
from jax_inits._src.u_mup import attention_output_scale as attention_output_scale
from jax_inits._src.u_mup import residual_tau as residual_tau

__all__ = (
    "OPTIMIZERS",
    "ROLES",
    "SCHEMES",
    "LeafScaling",
    "Parametrization",
    "Role",
    "Scheme",
    "attention_output_scale",
    "parametrize",
    "residual_tau",
)
