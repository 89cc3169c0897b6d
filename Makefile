# The two commands every user needs: `make run` and `make test`.
# Both create .venv at the repository root on first use, with exact versions
# from constraints.txt, so a fresh machine needs only python3, pip and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint typecheck bench clean

# The virtual environment, a target of its own.
$(VENV):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(VENV)
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/gomem vm demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/machine_access.py
	$(BIN)/python benchmarks/classic_throughput.py
	$(BIN)/python benchmarks/go_malloc.py
	$(BIN)/python benchmarks/program_ops.py
	$(BIN)/python benchmarks/gc_mark.py
	$(BIN)/python benchmarks/whatif.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
