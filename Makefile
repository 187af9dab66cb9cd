# The two commands a new user needs: `make demo` and `make test`; both run
# the host set-up they need first (tools/harness/setup-host.sh, idempotent).
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
IMAGE ?=

.PHONY: setup demo fleet bench test test-fast lint clean

setup:
	@bash tools/harness/setup-host.sh

demo: setup
	@$(PY) -m tools.harness.demo $(if $(IMAGE),--image $(IMAGE))

# A salt-master and six minions (balancer, web1, web2, worker, db, replica) on a
# docker network, converged through the master (tools/harness/fleet.py).
fleet: setup
	@$(PY) -m tools.harness.fleet

# Converge, re-apply, serving, deploy-under-load, fleet and backup figures, side by
# side in one run (tools/harness/bench.py): a table, bench/results.{json,md}. Not
# part of `make test`; 14 to 22 minutes (the backup phase alone:
# `python -m tools.harness.bench --only backup`).
bench: setup
	@$(PY) -m tools.harness.bench

# The fast layers first: a broken render fails in seconds, not after the containers.
test: setup
	$(PYTEST) test/unit test/render test/container

# Unit and render tests only: seconds, no Docker.
test-fast:
	@[ -x $(PYTEST) ] || bash tools/harness/setup-host.sh
	$(PYTEST) -m "not container"

lint:
	@[ -x $(PYTEST) ] || bash tools/harness/setup-host.sh
	.venv/bin/salt-lint $$(git ls-files 'salt/*.sls')
	.venv/bin/yamllint -s .
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	-docker ps -aq --filter label=webstack | xargs -r docker rm -f
	-docker network ls -q --filter label=webstack | xargs -r docker network rm
	-docker image rm webstack-salt:bookworm webstack-base:bookworm
	rm -rf .venv .cache .pytest_cache
