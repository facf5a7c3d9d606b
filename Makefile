# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
# TensorFlow's C++ start-up chatter hides the progress lines that matter.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv run test lint slurm format dry-run bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --profile profiles/default
	$(BIN)/snakemake --cores 1 --profile profiles/default --report report.html
	@echo "Contact sheets: results/sheets/   Report: report.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

# The SLURM tests start a real single-node cluster: install it (apt, with sudo when not root) if
# its binaries are missing; the installer says in one line what it installs and why, or that
# nothing is missing. NST_SLURM_TESTS=skip skips both the installation and those tests.
slurm:
ifeq ($(NST_SLURM_TESTS),skip)
	@echo "make: SLURM not checked or installed: NST_SLURM_TESTS=skip skips the SLURM tests"
else
	@bash tests/install_slurm.sh
endif

test: lint slurm
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf results logs benchmarks report.html .snakemake
