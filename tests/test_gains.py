"""calculate_gain: torch's table and the second-moment extension."""

import math

import numpy as np
import pytest
from scipy import integrate, special

import jax_inits


def _second_moment(phi):
    """E[phi(z)^2], z ~ N(0, 1), by scipy's adaptive quadrature (independent of ours)."""
    density = lambda z: phi(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return sum(integrate.quad(density, lo, hi, epsabs=1e-13)[0] for lo, hi in ((-40, 0), (0, 40)))


EXTENDED = {
    ("gelu", None): lambda z: z * special.ndtr(z),
    ("silu", None): lambda z: z * special.expit(z),
    ("swish", None): lambda z: z * special.expit(z),
    ("mish", None): lambda z: z * math.tanh(np.logaddexp(0, z)),
    ("elu", None): lambda z: z if z > 0 else math.expm1(z),
    ("elu", 0.5): lambda z: z if z > 0 else 0.5 * math.expm1(z),
    ("softplus", None): lambda z: np.logaddexp(0, z),
    ("softplus", 2.0): lambda z: np.logaddexp(0, 2 * z) / 2,
}


@pytest.mark.parametrize(("name", "param"), list(EXTENDED), ids=str)
def test_extended_gains_follow_the_second_moment_rule(name, param):
    expected = 1 / math.sqrt(_second_moment(EXTENDED[name, param]))
    assert jax_inits.calculate_gain(name, param) == pytest.approx(expected, rel=1e-9)


def test_rule_reproduces_relu_and_leaky_relu():
    # The rule behind the extension gives torch's relu and leaky_relu values exactly.
    assert 1 / math.sqrt(_second_moment(lambda z: max(z, 0.0))) == pytest.approx(
        jax_inits.calculate_gain("relu"), rel=1e-9
    )
    leaky = lambda z: z if z > 0 else 0.2 * z  # noqa: E731
    assert 1 / math.sqrt(_second_moment(leaky)) == pytest.approx(
        jax_inits.calculate_gain("leaky_relu", 0.2), rel=1e-9
    )


@pytest.mark.parametrize(
    ("args", "exc", "message"),
    [
        (("swishy",), ValueError, r"^calculate_gain: `nonlinearity` must be one of .*'swishy'"),
        (("gelu", 0.1), ValueError, r"^calculate_gain: 'gelu' takes no `param`, got 0.1"),
        (("elu", -1.0), ValueError, r"^calculate_gain: `param` must be >= 0, got -1.0"),
        (("softplus", 0.0), ValueError, r"^calculate_gain: `param` must be > 0, got 0.0"),
        (("leaky_relu", "x"), TypeError, r"^calculate_gain: `param` must be a real number"),
        (("leaky_relu", True), TypeError, r"^calculate_gain: `param` must be a real number"),
    ],
)
def test_errors(args, exc, message):
    with pytest.raises(exc, match=message):
        jax_inits.calculate_gain(*args)
