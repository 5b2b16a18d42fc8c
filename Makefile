# ipfeed: `make run` sets up and starts the node; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install kubo browser run test lint bench bench-peers soak clean

install: $(STAMP) kubo

# What running needs (`make run`): the package alone, quietly (pip's output goes to a log,
# shown only when it fails). The test tools come with `make install` / `make test`.
RUN_STAMP := $(VENV)/.installed-run
PIPQ := -q --disable-pip-version-check --no-input

$(RUN_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install $(PIPQ) -e . >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(RUN_STAMP) $(STAMP)

# Builds (once, cached outside the repo) or finds Kubo at the pinned version.
kubo:
	@bash scripts/install-kubo.sh >/dev/null

# Debian's Chromium for the real-browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || bash scripts/install-chromium.sh

# Your node, your home server (sync and pin of follows) and the web UI on 127.0.0.1; it says
# where to go and is quiet otherwise (no echoed commands, no install noise); the first run
# also shows the recovery phrase, once (README: "A lost or stolen key: the recovery key").
run: $(RUN_STAMP) kubo
	@IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) && export IPFEED_IPFS_BIN && \
	out=$$($(VENV)/bin/ipfeed init) && { echo "$$out" | grep -A1 "^recovery phrase" || true; } && \
	$(VENV)/bin/ipfeed node start >/dev/null && \
	{ $(VENV)/bin/ipfeed publish >/dev/null 2>&1 || true; } && \
	echo && echo "  ipfeed is running: open http://127.0.0.1:$${IPFEED_WEB_PORT:-8787}/ in your browser." && \
	echo "  Your name (give it to friends): $$($(VENV)/bin/ipfeed id)" && \
	echo "  Ctrl-C stops the web UI; the node keeps running (.venv/bin/ipfeed node stop)." && echo && \
	$(VENV)/bin/ipfeed serve --pin

test: install browser
	IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) $(PY) -m pytest -q $(PYTEST_ARGS)

# Benchmarks against real local daemons; QUICK=1 for a small run, ONLY=local,homeserver for
# some cases, FOLLOWS=5000 for the home server's follow list. Results in bench/results/.
bench: install bench-peers
	IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) $(PY) -m bench.run $(if $(QUICK),--quick,) \
		$(if $(ONLY),--only $(ONLY),) $(if $(FOLLOWS),--follows $(FOLLOWS),)

# The peer systems of the bench (pinned, bench-only): SSB's npm packages from the lock file
# (prebuilt binaries ship inside the tarballs, so no install scripts), nostr-sdk in its own
# virtualenv. A failed install is not fatal: the bench's row then says why it was not measured.
PEERS := bench/peers
bench-peers: $(PEERS)/ssb/node_modules/.installed $(PEERS)/nostr/.venv/.installed

$(PEERS)/ssb/node_modules/.installed: $(PEERS)/ssb/package.json $(PEERS)/ssb/package-lock.json
	-cd $(PEERS)/ssb && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		>install.log 2>&1 && touch node_modules/.installed

$(PEERS)/nostr/.venv/.installed: $(PEERS)/nostr/requirements.txt
	-$(PYTHON) -m venv $(PEERS)/nostr/.venv >$(PEERS)/nostr/install.log 2>&1 && \
		$(PEERS)/nostr/.venv/bin/pip install -q -r $(PEERS)/nostr/requirements.txt \
		>>$(PEERS)/nostr/install.log 2>&1 && touch $@

# Long robustness runs, not part of `make test` (about 40 minutes): 100,000 mutations per
# object type, 1,000,000 fuzzed decoder inputs, 500 crashes injected; counts printed.
# SOAK_ARGS="--mutations 1000 --fuzz 10000 --kills 20" for a short one.
soak: install
	IPFEED_IPFS_BIN=$$(bash scripts/install-kubo.sh) $(PY) -m bench.soak $(SOAK_ARGS)

lint: install
	$(VENV)/bin/ruff check ipfeed web tests bench
	$(VENV)/bin/mypy ipfeed web bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(PEERS)/ssb/node_modules $(PEERS)/nostr/.venv
