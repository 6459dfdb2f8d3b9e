# Every target installs into .venv if needed (a fresh machine needs only python3).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install demo docs docs-assets test test-slow test-all test-min test-mid bench clean

# Everything the suite, the docs and the linters need (torch, flax, haiku, mkdocs, ...).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps 'mup==1.0.0'
	touch $(STAMP)

# What the demo needs: the package and matplotlib (the `cli` extra), nothing else.
$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cli]'
	touch $(DEMO_STAMP)

install: $(STAMP)

# The catalogue, then signal propagation with the defaults: plots go to out/.
# Installs only the `cli` extra (a venv with the full install is used as it is).
demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	$(VENV)/bin/jax-inits list
	$(VENV)/bin/jax-inits propagate
	$(VENV)/bin/jax-inits sample he_normal

# The documentation site (mkdocs-material + mkdocstrings) into site/; --strict
# turns every broken link or reference into an error.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -q

# Regenerates the plots and tables the docs and README show (committed).
docs-assets: install
	$(PY) -m jax_inits propagate --plot docs/assets/propagate.png > docs/assets/propagate.txt
	$(PY) -m jax_inits sample he_normal --plot docs/assets/sample-he_normal.png > docs/assets/sample-he_normal.txt

test: install
	$(PY) -m ruff check jax_inits tests benchmarks examples
	$(PY) -m ruff format --check jax_inits tests benchmarks examples
	$(PY) -m pyright --pythonpath $(PY)
	$(PY) -m pytest -n auto --dist worksteal -rs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -q

# Everything `make test` leaves out (a separate CI step): the other variants of the
# per-builder cross products (tests/_subsets.py), high-power statistical runs
# (n = 2^22 per case), exhaustive bit checks of the kernels, the docs pages' blocks in
# fresh interpreters, the longer examples, the browser check of the docs site and the
# wheel check.
test-slow: install
	$(PY) -m pytest -n auto --dist worksteal -rs -m slow tests

# Both tiers, as CI runs them: `make test`, then `make test-slow` (the browser check of
# the docs site needs chromium: `apt-get install chromium`).
test-all:
	$(MAKE) test
	$(MAKE) test-slow

# Full benchmark (about 15 minutes on 2 cores): writes benchmarks/results/cpu.{json,md,png}.
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/harness.py --tag $(or $(TAG),cpu)

# The fast tier against an older jax in its own venv (.venv-jax<version>) without the
# framework extras (their tests skip). `make test-min` runs it on the oldest jax we declare
# (the `jax>=` floor in pyproject.toml), then the jax.nn parity and golden-value tests in
# full: users on the floor get the same values. `make test-mid` runs the fast tier on
# JAX_MID, a release between the floor and the newest; `make test-min JAX=0.6.2` on any.
JAX_FLOOR := $(shell sed -n 's/^ *"jax>=\([0-9.]*\)".*/\1/p' pyproject.toml)
JAX_MID := 0.7.2
JAX ?= $(JAX_FLOOR)
OLD_PY := .venv-jax$(JAX)/bin/python
test-min:
	test -x $(OLD_PY) || $(PYTHON) -m venv .venv-jax$(JAX)
	$(OLD_PY) -m pip install -q --upgrade pip
	$(OLD_PY) -m pip install -q -e '.[test]' 'jax==$(JAX)' 'jaxlib==$(JAX)'
	$(OLD_PY) -c "import jax; assert jax.__version__ == '$(JAX)', jax.__version__"
	$(OLD_PY) -m pytest -n auto --dist worksteal -rs -p no:cacheprovider
	$(if $(filter $(JAX),$(JAX_FLOOR)),$(OLD_PY) -m pytest -n auto --dist worksteal -rs -p no:cacheprovider -m slow tests/test_parity.py tests/test_golden.py)

test-mid:
	$(MAKE) test-min JAX=$(JAX_MID)

clean:
	rm -rf $(VENV) .venv-min .venv-jax* out build site *.egg-info
