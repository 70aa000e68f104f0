"""`python -m pipelines.benchmark`: the benchmark's documented command line, kept where `make bench`
and docs/performance.md call it. The tool itself lives in pipelines/tools/benchmark.py."""

from pipelines.tools.benchmark import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
