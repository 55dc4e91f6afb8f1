#!/usr/bin/env bash
# The whole test suite, with lint, on a fresh machine or an existing checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check shapwise tests benchmarks
.venv/bin/ruff format --check shapwise tests benchmarks
if [ $# -gt 0 ]; then
    exec .venv/bin/python -m pytest -q -n 2 "$@"
fi
# The Spark tests start one Spark Connect server, on Spark's fixed port: in one process, first.
.venv/bin/python -m pytest -q -p no:xdist -m spark
exec .venv/bin/python -m pytest -q -n 2 -m "not spark"
