"""Loads a script of the repository (benchmarks/, examples/, docs/) as a module:
they are not part of the package, so tests load them from their files."""

import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(relative: str, name: str):
    """The module of the file ``ROOT / relative``, registered as ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
