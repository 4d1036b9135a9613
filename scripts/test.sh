#!/usr/bin/env bash
# Set up, then run the Rust tests and the Python tests, then the CVXPY /
# cvxpylayers tests again on the oldest supported pair (requirements-oldest.txt).
# Set MOREAU_JAX_SKIP_OLDEST=1 to skip that last step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "==> cargo test --release"
cargo test --release
echo "==> pytest tests/python"
.venv/bin/python -m pytest tests/python -q

if [ "${MOREAU_JAX_SKIP_OLDEST:-0}" = "1" ]; then
    echo "==> skipping the oldest-pair tests (MOREAU_JAX_SKIP_OLDEST=1)"
    exit 0
fi

# Oldest supported pair: cvxpy 1.8.2 + cvxpylayers 1.1.0 in .venv-oldest. The
# repository's moreau / moreau_jax are used through PYTHONPATH, with the extension
# that `maturin develop` (scripts/setup.sh) built into moreau_jax/_native*.so
# (abi3, the same Python 3.11; it links nothing from .venv). The venv is
# reinstalled only when the pins change (stamp = hash of the pins + Python).
PYTHON="${PYTHON:-python3.11}"
OPTAX_PIN="$(grep -E '^optax==' requirements-dev.txt | sed 's/[[:space:]#].*//')"
STAMP_FILE=.venv-oldest/.moreau-jax-requirements.sha256
STAMP="$( { cat requirements-oldest.txt; echo "$OPTAX_PIN"; "$PYTHON" --version; } | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv-oldest/bin/python ] || [ "$(cat "$STAMP_FILE" 2>/dev/null)" != "$STAMP" ]; then
    echo "==> creating .venv-oldest (requirements-oldest.txt + $OPTAX_PIN)"
    rm -rf .venv-oldest
    "$PYTHON" -m venv .venv-oldest
    .venv-oldest/bin/python -m pip install --disable-pip-version-check -q \
        -r requirements-oldest.txt "$OPTAX_PIN"
    echo "$STAMP" > "$STAMP_FILE"
else
    echo "==> .venv-oldest is up to date"
fi
if ! ls moreau_jax/_native*.so >/dev/null 2>&1; then
    echo "error: moreau_jax/_native*.so not found (scripts/setup.sh builds it)" >&2
    exit 1
fi
echo "==> pytest on the oldest pair: $(PYTHONPATH="$PWD" .venv-oldest/bin/python -c \
    'import cvxpy, cvxpylayers; print("cvxpy", cvxpy.__version__, "+ cvxpylayers", cvxpylayers.__version__)')"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" .venv-oldest/bin/python -m pytest -q \
    tests/python/test_seed_examples.py tests/python/test_cvxpy.py
