"""The catalogue of public initializers: one entry per builder, with the example
instance and the shape used to show it (the CLI table and the tests walk it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from jax_inits._src import constant, distributions, orthogonal, variance_scaling
from jax_inits._src import recipes as _recipes


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public builder (or ready initializer) and how to show it."""

    name: str
    example: Any  # an initializer built with example arguments
    aliases: tuple[str, ...] = ()
    conv: bool = False  # needs a convolution kernel shape (spatial axes first)

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (3, 3, *shape) if self.conv else shape


_vs = variance_scaling
ENTRIES: tuple[Entry, ...] = (
    Entry("zeros", constant.zeros),
    Entry("ones", constant.ones),
    Entry("constant", constant.constant(0.5)),
    Entry("uniform", distributions.uniform()),
    Entry("uniform_range", distributions.uniform_range()),
    Entry("normal", distributions.normal()),
    Entry("truncated_normal", distributions.truncated_normal()),
    Entry("variance_scaling", _vs.variance_scaling(1.0, "fan_avg", "normal")),
    Entry("glorot_uniform", _vs.glorot_uniform(), ("xavier_uniform",)),
    Entry("glorot_normal", _vs.glorot_normal(), ("xavier_normal",)),
    Entry("lecun_uniform", _vs.lecun_uniform()),
    Entry("lecun_normal", _vs.lecun_normal()),
    Entry("he_uniform", _vs.he_uniform(), ("kaiming_uniform",)),
    Entry("he_normal", _vs.he_normal(), ("kaiming_normal",)),
    Entry("orthogonal", orthogonal.orthogonal()),
    Entry("delta_orthogonal", orthogonal.delta_orthogonal(), conv=True),
    # jax_inits.recipes
    Entry("recipes.small_init", _recipes.small_init(256)),
    Entry("recipes.wang_init", _recipes.wang_init(256, 12)),
    Entry("recipes.common_init", _recipes.common_init("wang2", 256, 12)),
    Entry("recipes.uniform_init", _recipes.uniform_init(-0.1, 0.1)),
    Entry("recipes.scaled_residual", _recipes.scaled_residual(12)),
    Entry("recipes.mitchell", _recipes.mitchell(layer_id=2)),
    Entry("recipes.deepnet", _recipes.deepnet("decoder", decoder_layers=12)),
    Entry("recipes.fixup", _recipes.fixup(8, 2)),
    Entry("recipes.t_fixup", _recipes.t_fixup(6)),
    Entry("recipes.t_fixup_embedding", _recipes.t_fixup_embedding(512)),
    Entry("recipes.zero_init", _recipes.zero_init()),
    Entry("recipes.block_orthogonal", _recipes.block_orthogonal(), conv=True),
)


# Public names that are not initializers or builders of one.
NOT_INITIALIZERS = frozenset(
    {"Initializer", "compute_fans", "from_config", "get", "registered"}
    | {"recipes", "recipes.deepnorm_alpha", "recipes.deepnorm_beta"}
)


def names() -> list[str]:
    """Every public initializer name, aliases included."""
    return [n for e in ENTRIES for n in (e.name, *e.aliases)]
