# axorders: every target bootstraps its own virtualenv in .venv on first use.
# `make demo` installs only what the package needs to run; the development tools (pytest,
# hypothesis, mypy, ruff, pdoc) are installed by the targets that use them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
DOCS   := build/docs
# The modules of the API reference (pdoc follows a package's __all__, so submodules are named).
API_MODULES := axorders axorders.client axorders.events axorders.commands axorders.exceptions \
	axorders.model axorders.config axorders.store axorders.rest axorders.session axorders.state \
	axorders.security axorders.auth axorders.names axorders.cli axorders.sim axorders.sim.server \
	axorders.sim.faults axorders.sim.engine axorders.wire
# The client's parts, each its own page.
API_MODULES += axorders.client.core axorders.client.gate axorders.client.connection \
	axorders.client.listener axorders.client.hub axorders.client.waiters axorders.client.journal \
	axorders.client.recovery axorders.client.market axorders.client.marketdata \
	axorders.client.stops axorders.client.submitting axorders.client.awaiting \
	axorders.client.ticker axorders.client.backoff axorders.client.telemetry
# Seeing and replaying what the client did.
API_MODULES += axorders.metrics axorders.replay axorders.recording axorders.recording.views

.PHONY: test demo docs docs-check bench bench-peers soak fuzz lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $(RUNTIME_STAMP)

$(DEV_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(DEV_STAMP)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src

# The API reference builds from the docstrings (into a throw-away folder) as part of the tests.
docs-check: $(DEV_STAMP)
	@out=$$(mktemp -d) && $(BIN)/pdoc -o "$$out" $(API_MODULES) && rm -rf "$$out" \
		&& echo "pdoc: the API reference builds"

test: lint docs-check
	$(BIN)/python -m pytest -q

demo: $(RUNTIME_STAMP)
	$(BIN)/axorders demo

# The API reference, built from the docstrings by pdoc, in build/docs/ (not committed).
docs: $(DEV_STAMP)
	rm -rf $(DOCS)
	$(BIN)/pdoc -o $(DOCS) $(API_MODULES)
	@echo "open $(DOCS)/index.html"

bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.run

bench-peers: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.peers

soak: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.soak

fuzz: $(DEV_STAMP)
	@$(BIN)/python -m pip install -q atheris || echo "atheris did not install: fuzzing without it"
	$(BIN)/python -m benchmarks.fuzz

clean:
	rm -rf $(VENV) $(DOCS) .mypy_cache .pytest_cache .ruff_cache
