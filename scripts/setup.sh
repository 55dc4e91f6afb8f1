#!/usr/bin/env bash
# Create .venv with shapwise and every extra (idempotent: re-installs only when pyproject.toml or
# the C masked-input writer changes).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.installed-$(cat pyproject.toml shapwise/maskers/_fill.c shapwise/explainers/tree/_core.cpp | sha1sum | cut -c1-12)
if [ -f "$stamp" ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned, so nothing else can pull a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all,test,bench]"
rm -f .venv/.installed-*
touch "$stamp"
