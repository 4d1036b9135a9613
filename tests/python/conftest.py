"""Shared fixtures for the Python tests.

The compiled extension is required: if ``moreau_jax._native`` cannot be
imported the whole test run FAILS (it never skips silently). Build it with
``bash scripts/setup.sh``.
"""

import numpy as np
import pytest
import scipy.sparse as sp

try:
    import moreau_jax._native as _native  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only when the build is missing
    raise RuntimeError(
        "The Rust extension moreau_jax._native cannot be imported "
        f"({exc}). The Python tests need it and do not skip without it: build it with "
        "`bash scripts/setup.sh` (or `.venv/bin/maturin develop --release`)."
    ) from exc


# The seed QP is degenerate (x_1 = 0 with a zero multiplier): an interior-point
# method at the default tolerances (1e-8) leaves x_1 ~ sqrt(1e-8 * scale) ~ 5e-5
# away from 0 (Clarabel 0.11 too: 6e-5). Tests about the API use this tolerance;
# test_api.py::test_seed_qp_accuracy checks the stricter 1e-6 of the spec.
SEED_ATOL = 1e-4


@pytest.fixture
def seed_qp():
    """min 1/2||x||^2 + q'x  s.t. sum(x) == 1, x >= 0, q = 1..5  ->  x = e_0.

    Slack form: rows [sum(x) + s0 = 1 (zero cone); -x + s = 0 (nonneg)].
    """
    n = 5
    P = sp.eye(n, format="csr")
    q = np.arange(1.0, n + 1.0)
    A = sp.vstack([sp.csr_array(np.ones((1, n))), -sp.eye(n)], format="csr")
    b = np.concatenate([[1.0], np.zeros(n)])
    x_star = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    z_star = np.array([-2.0, 0.0, 0.0, 1.0, 2.0, 3.0])
    return dict(P=P, q=q, A=A, b=b, n=n, m=n + 1, zero=1, nonneg=n, x=x_star, z=z_star, obj=1.5)
