# Two commands on a fresh clone: `make run` and `make test`. Both install what they need.
# The inner loop is `make check`: lint, types and the fast tests, in under 3 minutes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install system run check test lint docs corpus bench lock clean

# Bytecode is compiled at install: a process that must compile Prefect's sources first (as
# with PYTHONDONTWRITEBYTECODE set, or a read-only venv) spends about 3 s more starting.
$(STAMP): requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q flows schemas warehouse
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# System packages the tests drive: Debian's Chromium, CJK fonts for the report's text,
# PostgreSQL (the tests make a throwaway cluster of their own for the team catalog), and git
# (the git-history source, and the repositories its tests build).
system:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" \
	  && command -v git >/dev/null \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk postgresql \
	    git >/dev/null; }

# The main job on the bundled examples, into ./data/warehouse (see README for the inbox).
run: install
	mkdir -p data/inbox
	$(BIN)/arxiv-digests ingest examples/inbox

lint: install
	$(BIN)/ruff check flows schemas warehouse tests bench
	$(BIN)/ruff format --check flows schemas warehouse tests bench
	$(BIN)/mypy

# Test workers: one per core, and one more: the slow tests spend about a fifth of their time
# waiting on the processes and servers they start (measured: 1.6 of 2 cores busy with 2).
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

# Every test, on every core (pytest-xdist). Hypothesis runs each property's full count.
test: lint system
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q -n $(WORKERS) --dist worksteal

# The inner loop: lint, types and every test not marked `slow` (no servers, no whole-corpus
# runs), with a few examples per property.
check: lint
	HYPOTHESIS_PROFILE=check $(BIN)/pytest -q -n $(WORKERS) --dist worksteal -m "not slow"

# The generated pages: the settings (docs/configuration.md) and the tables (docs/tables.md).
docs: install
	$(BIN)/python -m flows.settings --write docs/configuration.md
	$(BIN)/python -m schemas.dictionary --write docs/tables.md

# The real digests the corpus tests read, fetched by blob id from their public repositories
# into ARXIV_DIGESTS_TEST_SHARED (../shared by default).
ARXIV_DIGESTS_TEST_SHARED ?= ../shared
corpus:
	$(PYTHON) tests/fetch_corpus.py $(ARXIV_DIGESTS_TEST_SHARED)

# Re-pin every dependency (needs network access to PyPI).
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The product against dlt on the same synthetic corpus, then the backfill of a real generator's
# git history (BENCH_GIT_REPO: a local copy of qhduan/cn-chat-arxiv, else mirrored from GitHub)
# and the whole data branch of dw-dengwei/daily-arXiv-ai-enhanced (BENCH_AI_REPO)
# -> docs/benchmarks.md. BENCH_DIGESTS=20000 for the 1,000,000-entry scale.
bench: install
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	.venv-bench/bin/uv pip install --quiet --compile-bytecode --python .venv-bench/bin/python -r bench/requirements.txt
	.venv-bench/bin/uv pip install --quiet --python .venv-bench/bin/python --no-deps -e .
	$(BIN)/python bench/run.py
	$(BIN)/python bench/git_backfill.py
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/parse_profile.py
	$(BIN)/python bench/ai_backfill.py
