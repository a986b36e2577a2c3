# The two commands of the README: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench connector clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Deployment checks (tests/infra): checkov and shellcheck get their own venv, because checkov's
# pins (packaging<24, pycep-parser==0.5.1) clash with pytest's and with the pycep-parser we use.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

$(INFRA_STAMP): requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

# The whole app on 127.0.0.1:7071 through the local host, with the Graph emulator unless GRAPH_BASE_URL is set.
run: $(STAMP)
	$(PY) -m chatfn.devhost --port 7071

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP) $(INFRA_STAMP)
	$(PY) -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PY) -m bench.throughput

# The Power Platform connector files in connector/, from the models; CLIENT_ID=<guid> writes the Entra
# ID app registration that OAuth connections sign in with (then do not commit them).
connector: $(STAMP)
	$(PY) -m chatfn.openapi --write connector $(if $(CLIENT_ID),--client-id $(CLIENT_ID))

clean:
	rm -rf $(VENV) $(INFRA_VENV) .pytest_cache .mypy_cache .ruff_cache
