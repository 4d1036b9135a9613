#!/usr/bin/env bash
# Set up the environment and run the quickstart example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/python examples/quickstart.py
