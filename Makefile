# Two commands: `make run` starts everything, `make test` runs the whole suite.
# Both create the virtual environment on first use; nothing else needs installing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
UNITS := libs/events services/gateway services/agents services/workspace services/archive launcher \
	clients/python clients/cli
MANIFESTS := pyproject.toml $(addsuffix /pyproject.toml,$(UNITS))

.PHONY: run cluster test lint format bench clean

$(STAMP): $(MANIFESTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet $(addprefix -e ,$(UNITS)) --group dev
	touch $@

run: $(STAMP)
	$(PY) -m orchestrator.launcher

# 3 local NATS nodes (deploy/nats, R3) and REPLICAS (default 2) of every service; gateways from 8100.
cluster: $(STAMP)
	$(PY) -m orchestrator.launcher --cluster

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/events/src services/gateway/src services/agents/src services/workspace/src services/archive/src launcher/src \
		clients/python/src clients/cli/src tests bench

# Two workers, each a whole test file at a time: most tests wait on real processes (timeouts,
# restarts, a minute's rate window), so a second file runs in that time. 12:24 against 16:42.
TEST_WORKERS ?= 2
test: $(STAMP) lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .orchestrator .mypy_cache .ruff_cache .pytest_cache
