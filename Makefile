# One entry point for people and CI: run, test, lint, bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint stress bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/liveblog serve --demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check liveblog tests bench
	$(BIN)/ruff format --check liveblog tests bench
	$(BIN)/mypy

# The load and fault scenarios of issue 5 at full size (1,000-20,000 readers; a few minutes),
# and the heavy pages of issue 10 with /healthz held to 200 ms.
stress: $(STAMP)
	LIVEBLOG_STRESS=1 $(BIN)/pytest tests/test_load.py tests/test_chaos.py tests/test_heavy_pages.py -s

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
