# The two commands a new user needs: `make demo` and `make test`; both run
# the host set-up they need first (tools/setup-host.sh, idempotent).
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
IMAGE ?=

.PHONY: setup demo test test-fast lint clean

setup:
	@bash tools/setup-host.sh

demo: setup
	@$(PY) -m tools.demo $(if $(IMAGE),--image $(IMAGE))

test: setup
	$(PYTEST)

# Unit and render tests only: seconds, no Docker.
test-fast:
	@[ -x $(PYTEST) ] || bash tools/setup-host.sh
	$(PYTEST) -m "not container"

lint:
	@[ -x $(PYTEST) ] || bash tools/setup-host.sh
	.venv/bin/salt-lint $$(git ls-files 'salt/*.sls')
	.venv/bin/yamllint -s .
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	-docker ps -aq --filter label=webstack | xargs -r docker rm -f
	-docker network ls -q --filter label=webstack | xargs -r docker network rm
	-docker image rm webstack-salt:bookworm webstack-base:bookworm
	rm -rf .venv .cache .pytest_cache
