"""The catalogue of public initializers: one entry per builder, with the example
instance and the shape used to show it (the CLI table and the tests walk it)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jax_inits._src import (
    complex_valued,
    constant,
    distributions,
    orthogonal,
    pytorch,
    recipes,
    structural,
    variance_scaling,
)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public builder (or ready initializer) and how to show it."""

    name: str
    example: Any  # an initializer built with example arguments
    aliases: tuple[str, ...] = ()
    conv: bool = False  # needs a convolution kernel shape (spatial axes first)
    matrix: bool = False  # needs a shape of rank exactly 2
    complex: bool = False  # needs a complex dtype

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape the example accepts, made from a matrix shape."""
        return (3, 3, *shape) if self.conv else shape

    def dtype(self, dtype) -> np.dtype:
        """``dtype``, or for complex-only entries the complex dtype of its precision."""
        dtype = np.dtype(dtype)
        if self.complex and not np.issubdtype(dtype, np.complexfloating):
            return np.dtype(np.complex128 if dtype == np.float64 else np.complex64)
        return dtype


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
    Entry("identity", structural.identity()),
    Entry("dirac", structural.dirac(), conv=True),
    Entry("sparse", structural.sparse(0.25), matrix=True),
    Entry("stacked", structural.stacked(distributions.normal(1.0))),
    Entry("grouped", structural.grouped(variance_scaling.glorot_uniform(), 2, axis=0)),
    Entry("complex_glorot", complex_valued.complex_glorot(), complex=True),
    Entry("complex_he", complex_valued.complex_he(), complex=True),
    Entry("complex_uniform", complex_valued.complex_uniform(), complex=True),
    Entry("haar_unitary", complex_valued.haar_unitary(), complex=True),
    Entry("pytorch.uniform", pytorch.uniform()),
    Entry("pytorch.normal", pytorch.normal()),
    Entry("pytorch.trunc_normal", pytorch.trunc_normal()),
    Entry("pytorch.constant", pytorch.constant(0.1)),
    Entry("pytorch.ones", pytorch.ones()),
    Entry("pytorch.zeros", pytorch.zeros()),
    Entry("pytorch.eye", pytorch.eye(), matrix=True),
    Entry("pytorch.dirac", pytorch.dirac(), conv=True),
    Entry("pytorch.xavier_uniform", pytorch.xavier_uniform()),
    Entry("pytorch.xavier_normal", pytorch.xavier_normal()),
    Entry("pytorch.kaiming_uniform", pytorch.kaiming_uniform()),
    Entry("pytorch.kaiming_normal", pytorch.kaiming_normal()),
    Entry("pytorch.orthogonal", pytorch.orthogonal()),
    Entry("pytorch.sparse", pytorch.sparse(0.25), matrix=True),
    Entry("pytorch.linear_default", pytorch.linear_default()),
    Entry("pytorch.conv_default", pytorch.conv_default(), conv=True),
    Entry("pytorch.linear_bias_default", pytorch.linear_bias_default(64)),
    Entry("pytorch.embedding_default", pytorch.embedding_default()),
    # jax_inits.recipes
    Entry("recipes.small_init", recipes.small_init(256)),
    Entry("recipes.wang_init", recipes.wang_init(256, 12)),
    Entry("recipes.common_init", recipes.common_init("wang2", 256, 12)),
    Entry("recipes.uniform_init", recipes.uniform_init(-0.1, 0.1)),
    Entry("recipes.scaled_residual", recipes.scaled_residual(12)),
    Entry("recipes.mitchell", recipes.mitchell(layer_id=2)),
    Entry("recipes.deepnet", recipes.deepnet("decoder", decoder_layers=12)),
    Entry("recipes.fixup", recipes.fixup(8, 2)),
    Entry("recipes.t_fixup", recipes.t_fixup(6)),
    Entry("recipes.t_fixup_embedding", recipes.t_fixup_embedding(512)),
    Entry("recipes.zero_init", recipes.zero_init()),
    Entry("recipes.block_orthogonal", recipes.block_orthogonal(), conv=True),
)


# Public names that are not initializers or builders of one.
NOT_INITIALIZERS = frozenset(
    {
        "Initializer",
        "calculate_gain",
        "compute_fans",
        "einsum_axes",
        "from_config",
        "get",
        "pytorch",
        "pytorch.calculate_gain",
        "recipes",
        "recipes.deepnorm_alpha",
        "recipes.deepnorm_beta",
        "registered",
    }
)


def names() -> list[str]:
    """Every public initializer name, aliases included."""
    return [n for e in ENTRIES for n in (e.name, *e.aliases)]
