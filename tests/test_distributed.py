"""Two processes on localhost (jax.distributed, 4 virtual CPU devices each) create
a parameter tree sharded over all 8 devices with jax_inits.tree.init; each
process's shards must equal the same slices of the single-process result."""

import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from _gates import assert_sharded_equals_whole

import jax_inits.tree as jt
from jax_inits._src import _jax_compat as compat
from tests import _distributed_worker as worker

ROOT = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def _free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _launch(tmp_path, axis_type):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    outs = [tmp_path / f"process{i}.npz" for i in range(2)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "_distributed_worker.py"),
                str(port),
                str(i),
                str(outs[i]),
                axis_type,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=TIMEOUT_S)
            logs.append(err)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs, strict=False):
        assert proc.returncode == 0, log[-3000:]
    return outs


# `make test`: the Explicit mesh; the Auto mesh in `make test-slow`.
@pytest.mark.parametrize("axis_type", [pytest.param("Auto", marks=pytest.mark.slow), "Explicit"])
def test_two_processes_hold_the_single_process_values(tmp_path, axis_type):
    if axis_type == "Explicit" and not compat.JIT_EXPLICIT_OUT_SHARDINGS:
        pytest.skip(f"jax {jax.__version__}: tree.init refuses Explicit axes (needs jax 0.7)")
    outs = _launch(tmp_path, axis_type)
    spec, rules = worker.spec_and_rules()
    expected = dict(
        zip(
            jt.leaf_paths(spec),
            jax.tree.leaves(jt.init(jax.random.key(worker.SEED), spec, rules)),
            strict=True,
        )
    )
    covered = {path: np.zeros(value.shape, bool) for path, value in expected.items()}
    for out in outs:
        with np.load(out) as shards:
            assert len(shards.files) >= 4 * len(expected)  # 4 local devices, every leaf
            for name in shards.files:
                path, index, _ = name.split("|")
                slices = tuple(slice(*map(int, part.split(":"))) for part in index.split(","))
                assert_sharded_equals_whole(shards[name], np.asarray(expected[path])[slices])
                covered[path][slices] = True
    for path, mask in covered.items():
        assert mask.all(), f"{path}: the two processes do not hold every element"
