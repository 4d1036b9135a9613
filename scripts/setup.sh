#!/usr/bin/env bash
# Create (or refresh) .venv with the pinned dev requirements and build the Rust
# extension into it (moreau_jax/_native.*.so, installed in editable mode).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

echo "==> installing requirements-dev.txt"
.venv/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt

echo "==> building the Rust extension (maturin develop --release)"
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" \
    .venv/bin/maturin develop --release --quiet

.venv/bin/python -c "import moreau, moreau_jax._native; print('moreau-jax', moreau.__version__, 'ready')"
