# The two set-up commands are `make run` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint unit bench clean browser-deps lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The public development key of TOTP secrets (ledger.core.sealing.DEVELOPMENT_KEY):
# anyone can read it, so it is for `make run` only; the app warns when it is used.
DEVELOPMENT_TOTP_KEY := bGVkZ2VyIGRldmVsb3BtZW50IGtleTogUFVCTElDISE=

## run: migrate the embedded SQLite database, seed demo data once, serve on :5000
## (outside tests the app needs a Stripe webhook secret and a TOTP key: local
## development ones unless LEDGER_STRIPE_WEBHOOK_SECRET / LEDGER_TOTP_KEY are set;
## e-mail, reset and sign-in links included, is written to instance/mail/*.eml
## unless LEDGER_MAIL_SENDER is set)
run: $(STAMP)
	$(BIN)/ledger db upgrade
	$(BIN)/ledger demo --with-users
	LEDGER_STRIPE_WEBHOOK_SECRET="$${LEDGER_STRIPE_WEBHOOK_SECRET:-whsec_local_development}" \
	LEDGER_TOTP_KEY="$${LEDGER_TOTP_KEY:-$(DEVELOPMENT_TOTP_KEY)}" \
	LEDGER_MAIL_SENDER="$${LEDGER_MAIL_SENDER:-file}" \
	  $(BIN)/ledger serve --host 127.0.0.1 --port 5000

## test: lint, import contracts, mypy on ledger/, then the whole suite (browser tests too)
test: $(STAMP) lint browser-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## browser-deps: Debian's chromium (apt-get when root; else a line saying the browser
## tests will be skipped) and axe-core from npm (npm ci, once per package-lock.json)
browser-deps: $(NODE_STAMP)
	@tests/browser/ensure-chromium.sh

$(NODE_STAMP): package.json package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "axe-core not installed (no npm): the accessibility checks will be SKIPPED, or FAIL under LEDGER_REQUIRE_BROWSER"; \
	elif npm ci --no-audit --no-fund; then \
	  touch $@; \
	else \
	  echo "axe-core not installed (npm ci failed): the accessibility checks will be SKIPPED, or FAIL under LEDGER_REQUIRE_BROWSER"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## bench: benchmark figures (printed, and written to BENCHMARKS.md by hand)
bench: $(STAMP)
	$(BIN)/python -m bench

## lock: regenerate requirements.lock, the exact versions and hashes of the runtime
## dependencies of pyproject.toml, for deployments (`make test` and `make run` still
## install from pyproject.toml). pip-compile (pip-tools) runs in a throwaway
## virtualenv and needs the package index.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet 'pip-tools>=7.4'
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(LOCK_VENV) node_modules instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
