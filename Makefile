# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up .venv and run the pipeline on the offline demo catalogue
#   make test   set up .venv and run lint, type checks and the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint pytest clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# constraints pin every transitive version that CI tested; torch==2.13.0 is the CPU build
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[test,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fusion run --aoi congo.geojson --out fusion-output

lint: $(STAMP)
	$(BIN)/ruff check fusion tests benchmarks deploy notebooks
	$(BIN)/ruff format --check fusion tests benchmarks deploy notebooks
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

clean:
	rm -rf $(VENV) fusion-output .pytest_cache .mypy_cache .ruff_cache
