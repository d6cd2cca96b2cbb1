# axorders: every target bootstraps its own virtualenv in .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench bench-peers soak fuzz lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/axorders demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-peers: $(STAMP)
	$(BIN)/python -m benchmarks.peers

soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

fuzz: $(STAMP)
	@$(BIN)/python -m pip install -q atheris || echo "atheris did not install: fuzzing without it"
	$(BIN)/python -m benchmarks.fuzz

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
