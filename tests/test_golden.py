"""Initial values are part of the API: a seed gives the values it gave before.

``tests/golden/values.json`` holds the fingerprint of every case that
``tests/golden/update.py`` makes (every catalogue builder by dtype, shape and key
implementation, grouped ``tree.init``, the presets, mup). The expected values are
the committed file, written by an earlier checkout: a refactor that changes any
bit fails here, naming the builders that changed. A deliberate change is
``python tests/golden/update.py --update`` and a line in CHANGELOG under
"Changed values".

`make test` checks one case per (implementation, distribution) as
``tests/_subsets.py`` picks the builders (threefry, the first shape, float32 or
complex64) except those the jax.nn parity tests pin in `make test` already
(jax.nn's names), one bfloat16 and one rbg case, and one grouped ``tree.init``,
one preset and one mup scheme; `make test-slow` checks every case, and that the
file holds no case the script no longer makes.

The fingerprints are CPU bits (see the script): on another default backend the
tests skip.
"""

import importlib.util
import pathlib
import sys

import jax
import pytest
from _gates import golden_values_pinned
from _subsets import REPRESENTATIVES

_spec = importlib.util.spec_from_file_location(
    "golden_update", pathlib.Path(__file__).resolve().parent / "golden" / "update.py"
)
golden = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = golden
_spec.loader.exec_module(golden)

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="golden values are the CPU's bits"
)

#: Beyond the representatives' first threefry case: other dtypes and key kinds.
FAST_EXTRA = (
    "truncated_normal|bfloat16|4x6|threefry2x32",
    "he_normal|float32|4x6|rbg",
    "tree.init|grouped|threefry2x32",
    "presets|hf_gpt2|threefry2x32",
    "mup|mup|threefry2x32",
)


#: Representatives whose float32 threefry values the jax.nn parity tests pin in
#: `make test` already (jax.nn has a builder of the same name).
PINNED_BY_PARITY = frozenset(n for n in REPRESENTATIVES if hasattr(jax.nn.initializers, n))


def _fast_cases():
    builders = golden.builder_cases(REPRESENTATIVES - PINNED_BY_PARITY)
    firsts = {}
    for cid, (owner, _) in builders.items():
        if cid.endswith("|threefry2x32"):
            firsts.setdefault(owner, cid)
    every = {**golden.builder_cases(["truncated_normal", "he_normal"]), **golden.tree_cases()}
    chosen = {cid: builders[cid] for cid in firsts.values()}
    chosen.update({cid: every[cid] for cid in FAST_EXTRA})
    return chosen


def test_fast_cases_cover_every_representative():
    owners = {owner for owner, _ in _fast_cases().values()}
    assert owners >= REPRESENTATIVES - PINNED_BY_PARITY
    assert {"orthogonal", "normal", "variance_scaling"} <= PINNED_BY_PARITY


@golden_values_pinned
def test_values_match_the_committed_fingerprints():
    cases = _fast_cases()
    report = golden.changes(cases, golden.compute(cases), golden.load())
    assert not report, report


@golden_values_pinned
@pytest.mark.slow
def test_every_value_matches_the_committed_fingerprints():
    cases = golden.all_cases()
    want = golden.load()
    report = golden.changes(cases, golden.compute(cases), want)
    assert not report, report
    stale = sorted(set(want) - set(cases))
    assert not stale, f"values.json has cases the script no longer makes: {stale}"


def test_a_changed_value_names_its_builder_and_the_changelog():
    """The failure message is what a reviewer needs: the builders, the cases, the fix."""
    cases = golden.builder_cases(["normal"])
    cid = next(iter(cases))
    report = golden.changes(cases, {**golden.load(), cid: "0" * 16}, golden.load())
    assert "builder(s): normal." in report
    assert cid in report and "--update" in report and "Changed values" in report
    assert golden.changes(cases, golden.load(), golden.load()) == ""
