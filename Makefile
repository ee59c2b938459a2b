# DeepRead: `make run` starts the service on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Two pytest processes (pytest-xdist); tests that share a server or a resource stay together (tests/conftest.py).
# `make test PYTEST_ARGS=-n0` runs the suite in one process.
PYTEST_XDIST ?= -n 2 --dist loadgroup

.PHONY: run test install lint fmt bench clean screenshots fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo ""
	@echo "Log in at http://127.0.0.1:$${PORT:-8000}/accounts/login/"
	@$(BIN)/python manage.py ensure_first_account
	@echo "Get an API key:  $(BIN)/python manage.py create_api_key you@example.com"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m scripts.run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.ocr_accuracy

clean:
	rm -rf $(VENV) var

screenshots: $(STAMP)
	$(BIN)/python -m scripts.screenshots

fuzz: $(STAMP)
	DEEPREAD_FUZZ_EXAMPLES=$${EXAMPLES:-300} $(BIN)/python -m pytest tests/e2e/test_fuzz.py -p no:cacheprovider
