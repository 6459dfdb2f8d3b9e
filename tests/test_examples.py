"""The examples run and say what they claim."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mlp_params_example():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mlp_params.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "eager == jit: True" in result.stdout
