"""The catalogue of public initializers: one entry per builder, with the example
instance and the shape used to show it (the CLI table and the tests walk it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from jax_inits._src import constant, distributions, orthogonal, variance_scaling


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
)


# Public names that are not initializers or builders of one.
NOT_INITIALIZERS = frozenset({"Initializer", "compute_fans", "from_config", "get", "registered"})


def names() -> list[str]:
    """Every public initializer name, aliases included."""
    return [n for e in ENTRIES for n in (e.name, *e.aliases)]
