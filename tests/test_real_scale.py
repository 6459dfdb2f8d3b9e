"""benchmarks/real_scale.py at small size: every method it times creates the
parameters of its spec (``examples/llama_spec.py``), in their layouts, and the
sharded draws equal the unsharded one bit for bit (the benchmark's values are
what the package promises, only bigger). The benchmark is loaded from its file."""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

pytest.importorskip("flax", reason="the benchmark's methods build Flax nnx models")
from flax import nnx  # noqa: E402
from jax.sharding import AxisType

import jax_inits.flax
import jax_inits.tree
from tests import _scripts
from tests._gates import assert_sharded_equals_whole

ROOT = pathlib.Path(__file__).resolve().parents[1]
KEY = jax.random.key(7)


@pytest.fixture(scope="module")
def bench():
    return _scripts.load("benchmarks/real_scale.py", "benchmarks_real_scale")


@pytest.fixture(scope="module")
def mesh():
    return jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)


def _flat(tree):
    return dict(zip(jax_inits.tree.leaf_paths(tree), jax.tree.leaves(tree), strict=True))


# The fast tier keeps the Llama, unscanned; GPT-2 (odd vocabulary, biases) and the
# stacked layers are in `make test-slow`.
CASES = [
    pytest.param("llama_small", False, id="llama"),
    pytest.param("gpt2_small", False, id="gpt2", marks=pytest.mark.slow),
    pytest.param("llama_small", True, id="llama-scanned", marks=pytest.mark.slow),
    pytest.param("gpt2_small", True, id="gpt2-scanned", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("model", "scanned"), CASES)
def test_sharded_tree_init_and_flax_create_are_the_unsharded_draw(bench, mesh, model, scanned):
    specs = bench._specs()
    spec = specs.spec(model, mesh, scanned=scanned)
    rules = specs.rules_for(model, scanned=scanned)
    whole = _flat(jax_inits.tree.init(KEY, specs.spec(model, None, scanned=scanned), rules))
    sharded = _flat(jax_inits.tree.init(KEY, spec, rules))
    created = nnx.state(
        jax_inits.flax.create(
            lambda rngs: bench.nnx_model(model, rngs, scanned=scanned), KEY, rules, mesh=mesh
        ),
        nnx.Param,
    )
    created = _flat(created)
    assert sorted(sharded) == sorted(whole) == sorted(created)
    for path, leaf in _flat(spec).items():
        for params in (sharded, created):
            assert params[path].sharding.is_equivalent_to(leaf.sharding, leaf.ndim), path
            assert (params[path].shape, params[path].dtype) == (leaf.shape, leaf.dtype)
            assert_sharded_equals_whole(params[path], whole[path])


@pytest.mark.slow  # the baselines, not ours: ~7 s
def test_nnx_recipe_and_jax_nn_make_the_spec_with_the_presets_distribution(bench, mesh):
    # The baselines create the same leaves in the same layouts; their values are
    # jax.nn's (other keys), drawn from the preset's distribution: checked on the
    # 256x1024 lm_head, whose std 0.02 has a standard error of 0.02/sqrt(2*262144).
    specs = bench._specs()
    spec = _flat(specs.spec("llama_small", mesh))
    for method in ("nnx recipe", "jax.nn jit"):
        make, _ = bench._maker("llama_small", method, mesh, None)
        params = _flat(make(KEY))
        assert sorted(params) == sorted(spec), method
        for path, leaf in spec.items():
            assert params[path].sharding.is_equivalent_to(leaf.sharding, leaf.ndim), path
            assert (params[path].shape, params[path].dtype) == (leaf.shape, leaf.dtype)
        head = np.asarray(params["lm_head/kernel"], np.float64)
        assert abs(head.std() / 0.02 - 1) < 0.01, method  # 7 standard errors
        assert float(np.asarray(params["model/norm/scale"], np.float64).min()) == 1.0


@pytest.mark.slow  # ~25 s: six fresh processes importing jax and flax
def test_the_script_runs_every_method_and_writes_its_table(bench, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "real_scale.py"),
            "--models",
            "llama_small",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    records = json.loads((tmp_path / "real_scale.json").read_text())["records"]
    assert [r["method"] for r in records] == list(bench.METHODS)
    assert all("error" not in r and r["params"] == records[0]["params"] for r in records)
    assert "| llama_small | 2 | tree.init |" in (tmp_path / "real_scale.md").read_text()


def test_an_unknown_method_is_named(bench):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_scale.py"), "--methods", "tree.int"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "--methods: unknown ['tree.int']" in out.stderr


@pytest.fixture(scope="module")
def multihost():
    return _scripts.load("benchmarks/multihost.py", "benchmarks_multihost")


@pytest.mark.slow  # ~40 s: three fresh processes (jax.distributed, orbax)
def test_two_processes_draw_save_and_restore_around_as_one(multihost):
    # benchmarks/multihost.py on GPT-2's shapes at small size: over 2 processes every
    # shard is the one-process draw's (hashes), no sharded leaf is whole on a process,
    # and the orbax checkpoint restored across both, with a new head and the embedding
    # forced, is the one-process restore-around.
    reference = multihost.run("gpt2_small", 1, timeout=300)
    two = multihost.run("gpt2_small", 2, timeout=300)
    summary = multihost.compare(reference, two)
    assert summary["hashes_equal"] and summary["around_hashes_equal"], summary
    assert summary["restored_equal"] and summary["forced_differs"], summary
    assert summary["whole_sharded_leaves"] == []
    leaves = {index.split("|")[0] for index in reference[0]["hashes"]}
    assert summary["hashes_count"] == len(reference[0]["hashes"]) > len(leaves) == 28
    held = summary["held_bytes_per_process"]
    assert len(held) == 2 and sum(held) == reference[0]["held_bytes"]
