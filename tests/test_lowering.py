"""What accelerators run, checked on the CPU: every builder exported for CUDA and TPU.

``jax.export`` lowers for a platform without its device, so these tests see the
StableHLO a GPU or TPU would compile (``benchmarks/lowering.py`` makes the cases
and writes the committed table of notable ops). For every case and platform:

* no host callback (``jax.export`` refuses one; no effects and no
  ``*callback*`` custom call either);
* no custom call except the QR calls jax's own ``orthogonal`` makes on that
  platform (found by exporting ``jax.nn.initializers.orthogonal``), and those
  only in the builders that take a QR, and the calls jax's own elementwise
  initializers make (none with jax 0.10; ``mhlo.erf`` with jax 0.9, how it
  exports ``lax.erf``: XLA's own erf op, not a library call);
* no ``while`` loop anywhere, no ``sort`` outside the sparse builders, and no
  RNG op (threefry keys: the bits are integer arithmetic).

`make test` exports one builder per (implementation, distribution) as
``tests/_subsets.py`` picks them, in one dtype on one platform each, and the
grouped ``tree.init`` draw; `make test-slow` exports every builder in every
dtype for both platforms and checks that regenerating the table gives the
committed ``benchmarks/results/lowering.md``.
"""

import importlib.util
import pathlib
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subsets import in_make_test

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "benchmarks_lowering", ROOT / "benchmarks" / "lowering.py"
)
lowering = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = lowering  # dataclasses look their module up there
_spec.loader.exec_module(lowering)

#: Builders that take a QR decomposition (jax's orthogonal method).
QR_BUILDERS = frozenset(
    {
        "orthogonal",
        "delta_orthogonal",
        "haar_unitary",
        "pytorch.orthogonal",
        "recipes.block_orthogonal",
    }
)
#: Builders that sort: sparse picks each column's zeros from a sort of random keys.
SORT_BUILDERS = frozenset({"sparse", "pytorch.sparse"})


def violations(name, lowered, platform):
    """What breaks the rules of this file in ``lowered`` (a case of builder ``name``)."""
    found = []
    effects = lowered.ordered_effects + lowered.unordered_effects
    if effects:
        found.append(f"effects {effects} (a host callback?)")
    callbacks = [c for c in lowered.custom_calls if "callback" in c.lower()]
    if callbacks:
        found.append(f"host callback custom calls {callbacks}")
    allowed = lowering.elementwise_calls(platform)
    if name in QR_BUILDERS:
        allowed |= lowering.qr_calls(platform)
    other = sorted(set(lowered.custom_calls) - allowed)
    if other:
        found.append(f"custom calls {other} (allowed here: {sorted(allowed)})")
    if lowered.count("while"):
        found.append(f"{lowered.count('while')} while loop(s)")
    if lowered.count("sort") and name not in SORT_BUILDERS:
        found.append(f"{lowered.count('sort')} sort(s) in an elementwise draw")
    if lowered.count(*lowering.RNG_OPS):
        found.append(f"{lowered.count(*lowering.RNG_OPS)} RNG op(s) for a threefry key")
    return found


def _params():
    """(case, platform) params: one per representative builder in `make test`
    (its dtype and the platform rotate over the representatives), the rest slow."""
    params, fast_seen = [], 0
    by_name = {}
    for case in lowering.cases():
        by_name.setdefault(case.name, []).append(case)
    for name, cases in by_name.items():
        fast = None
        if in_make_test(name):
            fast = (cases[fast_seen % len(cases)].dtype, lowering.PLATFORMS[fast_seen % 2])
            fast_seen += 1
        for case in cases:
            for platform in lowering.PLATFORMS:
                marks = () if fast == (case.dtype, platform) else pytest.mark.slow
                params.append(
                    pytest.param(case, platform, id=f"{name}-{case.dtype}-{platform}", marks=marks)
                )
    return params


@pytest.mark.parametrize("case,platform", _params())
def test_lowers_without_callbacks_loops_or_foreign_calls(case, platform):
    lowered = lowering.lower(case.fn, platform)
    assert violations(case.name, lowered, platform) == []
    if case.name in QR_BUILDERS:  # the QR is there: the rules saw the module it lowers to
        assert set(lowered.custom_calls) >= lowering.qr_calls(platform)


@pytest.mark.parametrize("platform", lowering.PLATFORMS)
def test_qr_calls_are_jaxs_own_and_only_qr(platform):
    """The allowed set is what jax's orthogonal makes: a QR factorization and the
    product of its reflectors, no callback, and not empty (else nothing is checked)."""
    calls = lowering.qr_calls(platform)
    assert len(calls) == 2, calls
    assert all(re.search(r"geqrf|orgqr|qr|householder", c, re.IGNORECASE) for c in calls), calls


def test_the_rules_catch_a_callback_a_loop_and_a_sort():
    """The checks can fail: a host callback, a fori_loop and a sort are each reported."""

    def with_callback(key):
        x = jax.random.normal(key, (4,))
        return jax.pure_callback(np.sin, jax.ShapeDtypeStruct((4,), jnp.float32), x)

    def with_loop(key):
        x = jax.random.normal(key, (4,))
        return jax.lax.fori_loop(0, jax.random.randint(key, (), 1, 3), lambda i, y: y * 2, x)

    def with_sort(key):
        return jnp.sort(jax.random.normal(key, (4,)))

    # jax.export refuses a host callback outright (for another platform than the
    # host's it fails even earlier), so a builder with one fails the export above
    # already; the effects and custom-call checks are a second guard.
    with pytest.raises(NotImplementedError, match="callback"):
        lowering.lower(with_callback, "cpu")
    found = {
        name: " ".join(violations("normal", lowering.lower(fn, "cuda"), "cuda"))
        for name, fn in (("loop", with_loop), ("sort", with_sort))
    }
    assert "while" in found["loop"]
    assert "sort" in found["sort"]


@pytest.mark.slow
def test_committed_table_is_current():
    """Regenerating ``benchmarks/results/lowering.md`` gives the committed file
    (with the jax version it was written with: other versions lower differently)."""
    committed = lowering.OUT.read_text()
    version = re.search(r"with jax (\S+) ", committed)
    if version is None or version.group(1) != jax.__version__:
        pytest.skip(f"the table was written with another jax than {jax.__version__}")
    assert lowering.table() == committed, "run `python benchmarks/lowering.py` and commit"
