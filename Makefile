# The two commands of the README: `make run` and `make test`. Each sets itself up on a fresh machine
# (Python 3.11 and Node.js 20 or later with npm; see docs/local-host.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit suite mutation bench bench-app connector clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Azurite (Azure Storage), which the local host and the tests start, pinned in package-lock.json.
# Azurite 3.36 and later declare Node 21+; 3.35.0 runs on Node 20.
NODE_STAMP := node_modules/.installed
NODE_NEEDED := Node.js 20 or later with npm is needed for Azurite (https://nodejs.org/)

$(NODE_STAMP): package.json package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "$(NODE_NEEDED)" >&2; exit 1; }
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
		{ echo "$(NODE_NEEDED); this is node $$(node --version)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Deployment checks (tests/infra): checkov and shellcheck get their own venv, because checkov's
# pins (packaging<24, pycep-parser==0.5.1) clash with pytest's and with the pycep-parser we use.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

$(INFRA_STAMP): requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

# The whole app on 127.0.0.1:$(PORT) through the local host, with the Graph emulator unless GRAPH_BASE_URL
# is set, and Azurite unless AzureWebJobsStorage names a reachable account. `make run PORT=7072` when
# 7071 is taken.
PORT ?= 7071

run: $(STAMP) $(NODE_STAMP) local.settings.json
	$(PY) -m chatfn.devhost --port $(PORT)

# The first `make run` starts from the example: the settings a deployment sets that matter locally
# (the body limit the deployment gives the host, rather than the host's 100 MB default).
local.settings.json:
	cp local.settings.json.example $@

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

# The in-process tier: no Node, Azurite, local host or deployment tools (about 70 s on 2 cores, 20 s
# of it the three tests that hold the search to real lags in tests/chats/test_job.py).
UNIT_TIER := not azurite and not apphost and not infra and not fuzz

unit: $(STAMP)
	$(PY) -m pytest -m "$(UNIT_TIER)"

# Every test, every tier (pyproject.toml's markers): what CI runs, through `make test`.
suite: $(STAMP) $(INFRA_STAMP) $(NODE_STAMP)
	$(PY) -m pytest

test: lint typecheck suite

# Mutation testing of the pure core modules against their own tests (tests/mutation.py; not part of
# `make test`: about 15 minutes on 2 cores). MODULES="retry graph" limits it.
mutation: $(STAMP) $(NODE_STAMP)
	$(PY) -m tests.mutation $(MODULES)

bench: $(STAMP)
	$(PY) -m bench.throughput

# The whole app through the local host, with its emulator and Azurite (a few minutes; --quick: less).
bench-app: $(STAMP) $(NODE_STAMP)
	$(PY) -m bench.app
	$(PY) -m bench.batch

# The Power Platform connector files in connector/, from the models; CLIENT_ID=<guid> writes the Entra
# ID app registration that OAuth connections sign in with, TENANT_ID=<guid> its tenant, whose sign-in
# page they use (needed with CLIENT_ID: the deployment's AZURE_TENANT_ID output, or `az account show
# --query tenantId -o tsv`; a single-tenant app is refused at /common with AADSTS50194), PUBLISHER=<file>
# the publisher's name, email, website and privacy policy (connector/readme.md; then do not commit
# them). The API's Application ID URI is not written: each Entra ID connection asks for it, the
# deployment's CHATFN_API_IDENTIFIER_URI output (api://<tenant id>/chatfn-<suffix>; docs/power-automate.md).
connector: $(STAMP)
	$(PY) -m chatfn.tools.connector --write connector $(if $(CLIENT_ID),--client-id $(CLIENT_ID)) \
		$(if $(TENANT_ID),--tenant-id $(TENANT_ID)) $(if $(PUBLISHER),--publisher $(PUBLISHER))

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
