# ipfeed: `make run` sets up and starts the node; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KUBO_VERSION := 0.42.0
export KUBO_VERSION

.PHONY: install kubo run test lint bench clean

install: $(STAMP) kubo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Builds (once, cached outside the repo) or finds Kubo at the pinned version.
kubo:
	@bash scripts/install-kubo.sh >/dev/null

run: install
	IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) && export IPFEED_IPFS_BIN && \
	$(VENV)/bin/ipfeed init && $(VENV)/bin/ipfeed node start && $(VENV)/bin/ipfeed publish && \
	echo && echo "Your feed: $$($(VENV)/bin/ipfeed id)" && \
	echo "Post with:  $(VENV)/bin/ipfeed post 'hello, world'" && \
	echo "Read with:  $(VENV)/bin/ipfeed show $$($(VENV)/bin/ipfeed id)"

test: install
	IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check ipfeed tests
	$(VENV)/bin/mypy ipfeed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
