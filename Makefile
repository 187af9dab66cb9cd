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

# The fast layers first, on both cores (pytest-xdist): a broken render fails in
# minutes, not after the containers. Then the containers, one session sharing
# its boxes; the slowest tests listed, to keep an eye on the run's length.
test: setup
	$(PYTEST) -n 2 test/unit test/render
	$(PYTEST) --durations=15 test/container

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
	-docker image rm webstack-salt:bookworm webstack-base:bookworm webstack-salt:trixie webstack-base:trixie
	rm -rf .venv .cache .pytest_cache
