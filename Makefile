# Two commands for a fresh machine (Python 3.11, no venv needed):
#   make run    set up, load the demo network into an empty database, open the console chat
#   make test   set up with the test tools, run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test check lint typecheck bench eval load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamps make re-runs fast: pip runs again only when pyproject.toml changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/leerlus demo --if-empty
	$(BIN)/leerlus chat

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bot adapters storage embeddings tests bench
	$(BIN)/ruff format --check bot adapters storage embeddings tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

check: lint typecheck test

# The judged questions, then the held-out ones (written without the glossary in view).
eval: $(VENV)/.installed-test
	$(BIN)/python -m bench.eval
	$(BIN)/python -m bench.eval --questions bench/questions_holdout.json --output bench/results/eval_holdout.json

# Scale: ask latency, build/add time, memory and index recall at 10k/100k/1M lessons.
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Load over HTTP against leerlus run on PostgreSQL (LEERLUS_TEST_POSTGRES_URL).
load: $(VENV)/.installed-test
	$(BIN)/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
