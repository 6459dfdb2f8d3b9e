"""jax_inits.diagnostics.memory / flax.memory / ``jax-inits memory``: bytes per device
and per process, compared with jax's own sharding methods and with arithmetic from
the model configs (never with the function's own formulas)."""

import json
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AbstractMesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jax_inits._src import _jax_compat as compat
from jax_inits.diagnostics import memory
from tests import _scripts

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "llama_spec.py"
AXES = ("data", "model")


L = _scripts.load("examples/llama_spec.py", "llama_spec")


@pytest.fixture(scope="module")
def mesh():
    return jax.make_mesh((2, 4), AXES)


def _sds(shape, spec, mesh, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype, sharding=NamedSharding(mesh, spec))


def _jax_blocks(sharding, shape):
    """Per device in mesh order: the (start, stop) bounds jax gives its block."""
    index = sharding.devices_indices_map(shape)
    return [
        tuple(s.indices(n)[:2] for s, n in zip(index[d], shape, strict=True))
        for d in sharding.mesh.devices.flat
    ]


# --------------------------------------------------------------------------- agreement with jax

CASES = [
    ((16, 24), P("data", "model")),
    ((16, 24, 8), P(("data", "model"))),  # one dimension over both axes, data major
    ((16, 24), P(None, ("model", "data"))),  # model major
    ((8,), P()),
]


def _check_against_jax(mesh, shape, spec):
    sharding = NamedSharding(mesh, spec)
    blocks = _jax_blocks(sharding, shape)
    nbytes = math.prod(sharding.shard_shape(shape)) * 4
    for on in (mesh, AbstractMesh(tuple(mesh.axis_sizes), AXES)):
        report = memory({"w": _sds(shape, spec, on)}, processes=2)
        (leaf,) = report.leaves
        assert leaf.shard_shape == sharding.shard_shape(shape)
        assert report.per_device == (nbytes,) * 8
        # Per process (devices 0-3 and 4-7): the distinct blocks jax gives them.
        distinct = [len(set(blocks[:4])) * nbytes, len(set(blocks[4:])) * nbytes]
        assert list(report.per_process_distinct) == distinct
        assert leaf.copies == 8 // len(set(blocks))


def test_shards_agree_with_jax_on_a_concrete_and_an_abstract_mesh(mesh):
    _check_against_jax(mesh, *CASES[1])


@pytest.mark.slow
@pytest.mark.parametrize("shape, spec", CASES)
def test_shards_agree_with_jax_every_case(mesh, shape, spec):
    _check_against_jax(mesh, shape, spec)


def test_uneven_dimension_is_an_error_as_in_jax(mesh):
    sharding = NamedSharding(mesh, P("model", "data"))
    with pytest.raises(ValueError, match="evenly divide"):
        sharding.shard_shape((10, 6))  # jax refuses to lay it out
    for on in (mesh, AbstractMesh((2, 4), AXES)):
        spec = {"emb": {"w": _sds((10, 6), P("model", "data"), on)}}
        with pytest.raises(
            ValueError,
            match=r"diagnostics.memory: the leaf at path 'emb/w' \(shape \(10, 6\)\) cannot be "
            r"laid out as .*dimension 0 \(10\) is split 4 ways by \('model',\)",
        ):
            memory(spec)


# --------------------------------------------------------------------------- processes, replication


def test_per_process_split_and_a_replicated_leaf():
    on = AbstractMesh((4, 2), AXES)
    spec = {
        "w": _sds((64, 32), P("data", "model"), on, jnp.bfloat16),  # 8 blocks of 16x16
        "scale": jax.ShapeDtypeStruct((32,), jnp.float32),  # unsharded: on every device
    }
    report = memory(spec, processes=2)
    w_block, scale = 16 * 16 * 2, 32 * 4
    assert report.total_bytes == 64 * 32 * 2 + 32 * 4
    assert report.per_device == (w_block + scale,) * 8
    assert report.process_of == (0, 0, 0, 0, 1, 1, 1, 1)
    # Each process: 4 devices = data rows {0,1} or {2,3} x both model columns.
    assert report.per_process == (4 * (w_block + scale),) * 2
    assert report.per_process_distinct == (4 * w_block + scale,) * 2
    rows = {leaf.path: leaf for leaf in report.leaves}
    assert rows["scale"].replicated and rows["scale"].copies == 8
    assert rows["scale"].spec == "unsharded" and not rows["w"].replicated
    with pytest.raises(
        ValueError, match=r"diagnostics.memory: `processes` must divide the number of devices"
    ):
        memory(spec, processes=3)


def test_concrete_mesh_processes_are_the_devices_process_index(mesh):
    report = memory({"w": _sds((8, 8), P("data"), mesh)})
    assert report.process_of == tuple(d.process_index for d in mesh.devices.flat)
    assert report.devices == tuple(str(d.id) for d in mesh.devices.flat)


def test_no_sharding_and_no_mesh_is_one_device():
    report = memory({"w": jax.ShapeDtypeStruct((4, 8), jnp.float16)})
    assert report.per_device == (64,) and report.mesh == {} and report.total_bytes == 64


def test_partition_specs_resolve_against_the_mesh_as_tree_init_does(mesh):
    spec = {"a": jax.ShapeDtypeStruct((8, 8), jnp.float32)}
    on = AbstractMesh((2, 4), AXES)
    assert memory(spec, P("model"), mesh=on).per_device == (64,) * 8
    with compat.set_mesh(mesh):
        assert memory(spec, {"a": P(None, "data")}).per_device == (128,) * 8


# --------------------------------------------------------------------------- real models


def _llama_params(c):
    """Llama parameters from its config (untied embedding and head)."""
    q, kv = c.heads * c.head_dim, c.kv_heads * c.head_dim
    block = 2 * c.d_model * q + 2 * c.d_model * kv + 3 * c.d_model * c.ffn + 2 * c.d_model
    return 2 * c.vocab * c.d_model + c.layers * block + c.d_model


def test_llama3_8b_totals_and_per_device_on_2x4(mesh):
    c = L.LLAMA3_8B
    assert _llama_params(c) == 8_030_261_248  # Meta's published count (untied head)
    report = memory(L.llama3_8b(mesh))
    assert report.parameters == 8_030_261_248
    assert report.total_bytes == 2 * 8_030_261_248  # bfloat16
    norms = (2 * c.layers + 1) * c.d_model  # the replicated RMSNorm scales
    per_device = 2 * ((8_030_261_248 - norms) // 8 + norms)
    assert report.per_device == (per_device,) * 8
    largest = report.largest_shard
    assert largest.path in ("lm_head/kernel", "model/embed_tokens/embedding")
    assert largest.shard_bytes == 2 * c.vocab * c.d_model // 8


@pytest.mark.slow
def test_llama3_8b_on_an_abstract_16x16_pod_with_32_hosts():
    c = L.LLAMA3_8B
    report = memory(L.llama3_8b(AbstractMesh((16, 16), AXES)), processes=32)
    norms = (2 * c.layers + 1) * c.d_model
    per_device = 2 * ((8_030_261_248 - norms) // 256 + norms)
    assert report.per_device == (per_device,) * 256
    assert report.per_process == (8 * per_device,) * 32
    # A host's 8 devices share a data row and cover half of the model axis:
    # 8 distinct blocks of each sharded leaf, one copy of the norms.
    assert report.per_process_distinct == (8 * (per_device - 2 * norms) + 2 * norms,) * 32


@pytest.mark.slow
def test_gpt2_xl_totals():
    report = memory(L.gpt2_xl(AbstractMesh((2, 4), AXES)))
    assert report.parameters == 1_557_611_200  # the published GPT-2 XL count (tied wte)
    assert report.total_bytes == 4 * 1_557_611_200


@pytest.mark.slow
@pytest.mark.parametrize("name", L.SPECS)
def test_example_specs_scanned_hold_the_same_bytes(name):
    on = AbstractMesh((2, 4), AXES)
    flat = memory(getattr(L, name)(on))
    stacked = memory(getattr(L, name)(on, scanned=True))
    assert stacked.total_bytes == flat.total_bytes
    assert stacked.per_device == flat.per_device


def test_hf_llama_rules_match_every_leaf_of_the_example():
    from jax_inits.presets import DEFAULT_PATTERNS
    from jax_inits.tree import leaf_paths

    paths = leaf_paths(L.llama_small(None))
    rules = L.rules_for("llama_small")
    roles = {
        "token_embedding": ["model/embed_tokens/embedding"],
        "norm_scale": [p for p in paths if p.endswith("scale")],
        "kernel": [p for p in paths if p.endswith("kernel")],
    }
    for role, wanted in roles.items():
        assert all(DEFAULT_PATTERNS[role].fullmatch(p) for p in wanted), role
    assert len(paths) == 1 + 2 * 9 + 2 and sum(map(len, roles.values())) == len(paths)
    params = jax.tree.leaves(jax_inits_tree_init(L.llama_small(None), rules))
    assert len(params) == len(paths)


def jax_inits_tree_init(spec, rules):
    import jax_inits.tree

    return jax_inits.tree.init(jax.random.key(0), spec, rules)


@pytest.mark.slow
def test_hf_gpt2_rules_draw_a_small_gpt2_of_the_example():
    spec = L.gpt2(L.GPT2Config(layers=2, d_model=64, ffn=256, vocab=97, n_ctx=16), None)
    params = jax_inits_tree_init(spec, L.rules_for("gpt2_xl"))
    h = params["transformer"]["h"]["1"]
    assert float(jnp.abs(h["attn"]["c_attn"]["bias"]).max()) == 0.0
    residual = float(h["mlp"]["c_proj"]["kernel"].std())
    assert abs(residual / (0.02 / math.sqrt(2 * L.GPT2_XL.layers)) - 1) < 5 / math.sqrt(2 * 16384)


# --------------------------------------------------------------------------- nnx


def test_flax_memory_reads_nnx_partitioning_on_an_abstract_mesh(mesh):
    nnx = pytest.importorskip("flax.nnx")
    import jax_inits.flax

    def make(rngs):
        init = nnx.with_partitioning(nnx.initializers.lecun_normal(), ("data", "model"))
        return nnx.Linear(64, 32, kernel_init=init, rngs=rngs)

    report = jax_inits.flax.memory(make, mesh=AbstractMesh((2, 4), AXES))
    rows = {leaf.path: leaf for leaf in report.leaves}
    assert rows["kernel"].shard_shape == (32, 8) and rows["bias"].replicated
    assert report.per_device == ((32 * 8 + 32) * 4,) * 8
    with compat.set_mesh(mesh):
        model = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
    assert memory(model, mesh=mesh).per_device == report.per_device


# --------------------------------------------------------------------------- errors


def test_errors_name_the_function_the_argument_and_the_leaf():
    on = AbstractMesh((2, 4), AXES)
    spec = {"layer": {"w": jax.ShapeDtypeStruct((8, 8), jnp.float32)}}
    with pytest.raises(
        ValueError,
        match=r"diagnostics.memory: the partition spec .* of the leaf at path 'layer/w' names "
        r"the axis 'expert', which the mesh does not have; its axes: \('data', 'model'\)",
    ):
        memory(spec, P("expert"), mesh=on)
    with pytest.raises(TypeError, match=r"diagnostics.memory: `spec` leaves must be .* 'x'"):
        memory({"x": "not an array"})
    with pytest.raises(TypeError, match=r"diagnostics.memory: `mesh` must be a jax.sharding"):
        memory(spec, mesh="data=2")
    with pytest.raises(TypeError, match=r"diagnostics.memory: `processes` must be"):
        memory(spec, processes=1.5)
    with pytest.raises(ValueError, match=r"diagnostics.memory: `processes` must be >= 1"):
        memory(spec, processes=0)
    with pytest.raises(ValueError, match=r"PartitionSpec, which needs a mesh"):
        memory(spec, P("data"))
    other = AbstractMesh((8,), ("data",))
    two = {"a": _sds((8,), P("data"), on), "b": _sds((8,), P("data"), other)}
    with pytest.raises(ValueError, match=r"leaf at path 'b' is sharded on the mesh \(data=8\)"):
        memory(two)


# --------------------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "jax_inits", "memory", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.mark.slow  # a fresh interpreter (~4 s); the in-process CLI tests stay fast
def test_cli_on_the_small_example_in_a_fresh_process():
    # A fresh process (a user's run): JSON, on an abstract 4x4 mesh of 2 hosts.
    result = _cli(
        f"{EXAMPLE}:llama_small", "--mesh", "data=4,model=4", "--processes", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    c = L.LLAMA_SMALL
    assert out["parameters"] == _llama_params(c) and out["mesh"] == {"data": 4, "model": 4}
    norms = (2 * c.layers + 1) * c.d_model
    assert out["per_device"] == [2 * ((_llama_params(c) - norms) // 16 + norms)] * 16
    assert out["process_of"] == [0] * 8 + [1] * 8


def test_cli_table_and_usage_errors_in_process(capsys):
    from jax_inits.__main__ import main

    assert main(["memory", "examples/llama_spec.py:llama_small", "--mesh", "data=2,model=4"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 1,705,216" in out and "model/embed_tokens/embedding" in out
    for argv, message in [
        (["no_such_module:f"], "cannot import 'no_such_module'"),
        (["examples/llama_spec.py:nope"], "has no attribute 'nope'"),
        (["examples/llama_spec.py:llama_small", "--mesh", "data=2,data=4"], "--mesh must be"),
        (["examples/llama_spec.py:llama_small", "--processes", "3"], "`processes` must divide"),
    ]:
        with pytest.raises(SystemExit) as usage:
            main(["memory", *argv])
        assert usage.value.code == 2
        assert message in capsys.readouterr().err


def test_report_table_shows_the_largest_leaves_first():
    report = memory(L.llama_small(AbstractMesh((2, 4), AXES)))
    text = report.format(top=2)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("path"))
    assert lines[header + 2].split()[0] in ("lm_head/kernel", "model/embed_tokens/embedding")
    assert "... and 19 more leaves" in text
    assert np.isclose(
        sum(leaf.shard_bytes for leaf in report.leaves), report.per_device[0]
    )  # every device holds one block of each leaf
