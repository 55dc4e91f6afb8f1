#!/usr/bin/env bash
# The main job: train small real models, explain them, check additivity, write an HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/shapwise demo --out "${1:-shapwise-report}"
