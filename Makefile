# Performance benchmark (issue #6). `make bench` measures the medium network; `make bench SCALE=large`
# the 100-site, 36-month one (10-30 min). Results: bench/$(SCALE)/result.json and a table on stdout;
# see docs/performance.md. BENCH_FLAGS passes extra flags (e.g. --profile-gx, --no-full-cold, --keep).

SCALE ?= medium
BENCH_FLAGS ?=
PYTHON := .venv/bin/python

.PHONY: bench setup

setup:
	./dev setup

bench: setup
	$(PYTHON) -m pipelines.benchmark network --scale $(SCALE) --out bench/$(SCALE) $(BENCH_FLAGS)
