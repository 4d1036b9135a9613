#!/usr/bin/env bash
# Set up, then run the Rust tests and the Python tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "==> cargo test --release"
cargo test --release
echo "==> pytest tests/python"
.venv/bin/python -m pytest tests/python -q
