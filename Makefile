# The front door. `make run` serves the portal on an embedded default; `make test` runs the
# whole suite on PostgreSQL and Redis (started, or installed on Debian as root, if needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DJANGO_SETTINGS_MODULE := portal.settings

.PHONY: install litellm-venv run test lint format migrations-check bench bench-quick proof e2e soak clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The REAL LiteLLM proxy for the real-proxy test tier, in its own virtualenv (never in the
# portal's requirements). Pinned to the version contracts/litellm.md was read from: a venv
# with any other version (or none) is removed and built again. `rm -rf` of a symlinked venv
# removes the link only.
LITELLM_VENV ?= .venv-litellm
LITELLM_VERSION := 1.106.2
litellm-venv:
	@if ! reason=$$($(PYTHON) scripts/litellm_venv.py $(LITELLM_VENV) $(LITELLM_VERSION) 2>&1); then \
	  echo "litellm-venv: $$reason: building it"; \
	  rm -rf $(LITELLM_VENV) && $(PYTHON) -m venv $(LITELLM_VENV) && \
	  $(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'; \
	fi

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py ensure_admin
	PORTAL_QUEUES=$$($(BIN)/python manage.py celery_queues) $(BIN)/python scripts/procrun.py Procfile.dev

test: install litellm-venv
	LITELLM_VENV=$(abspath $(LITELLM_VENV)) scripts/with-test-services $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	scripts/with-test-services $(BIN)/python -m bench

# The same benchmarks at small sizes (same code paths, figures not comparable): CI runs it
# after `make test` so that no benchmark rots.
bench-quick: install
	BENCH_QUICK=1 scripts/with-test-services $(BIN)/python -m bench

# The proof tiers (faults at scale, secret hygiene, browser end-to-end); the figure lines
# (`faults: ...`, `secrets: ...`) are printed together under "proof figures" at the end.
PROOF_PATHS ?= tests/faults tests/secrets tests/e2e
proof: install
	scripts/with-test-services $(BIN)/python -m pytest -q $(PROOF_PATHS) $(PYTEST_ARGS)

# Not part of `make test`: the real `make run` for SOAK_SECONDS (15 minutes) with beat firing
# and 50 signups provisioned against the LibreChat simulator run as a process; zero crashes,
# one `soak:` figure line.
SOAK_SECONDS ?= 900
soak: install
	PORTAL_SOAK=1 SOAK_SECONDS=$(SOAK_SECONDS) scripts/with-test-services $(BIN)/python -m pytest -q tests/soak $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
