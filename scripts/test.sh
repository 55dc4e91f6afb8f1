#!/usr/bin/env bash
# The whole test suite, with lint, on a fresh machine or an existing checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check shapwise tests benchmarks
.venv/bin/ruff format --check shapwise tests benchmarks
exec .venv/bin/python -m pytest -q -n 2 "$@"
