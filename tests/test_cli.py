"""``python -m jax_inits`` driven as a user would, in a subprocess."""

import json
import subprocess
import sys

import jax
import pytest

import jax_inits
from jax_inits._src import catalog


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "jax_inits", *args], capture_output=True, text=True, timeout=300
    )


def test_table_lists_every_initializer():
    result = _run()
    assert result.returncode == 0, result.stderr
    for name in catalog.names():
        assert name in result.stdout
    assert "target std" in result.stdout and "measured std" in result.stdout


def test_json_numbers_match_the_library():
    result = _run("--json", "--shape", "64,128", "--seed", "3")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {e.name for e in catalog.ENTRIES}
    he = rows["he_normal"]
    assert he["target_std"] == pytest.approx((2 / 64) ** 0.5)
    w = jax_inits.he_normal()(jax.random.key(3), (64, 128))
    assert he["measured_std"] == pytest.approx(float(w.std()), rel=1e-5)


@pytest.mark.parametrize(
    "args,message",
    [
        (("--shape", "3,x"), "--shape must be comma-separated non-negative integers"),
        (("--shape", "3,-1"), "--shape must be comma-separated non-negative integers"),
        (("--dtype", "int32"), "--dtype must be a floating or complex dtype"),
    ],
)
def test_bad_arguments(args, message):
    result = _run(*args)
    assert result.returncode == 2 and message in result.stderr
