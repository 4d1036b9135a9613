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
