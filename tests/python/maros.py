"""Maros–Meszaros convex QPs (MATLAB files of qpsolvers/maros_meszaros_qpbenchmark).

A file holds P (n x n sparse, both triangles), q, r (objective constant), A (m x n
sparse), l, u (+-1e20 = infinite) for

    minimize 1/2 x'Px + q'x + r   subject to   l <= A x <= u.

`load_qp` turns it into this repository's conic form (see problems.py):
rows with l == u become zero-cone rows (A x + s = u, s = 0); every other finite upper
bound a nonnegative row A x + s = u; every finite lower bound a row -A x + s = -l.
The constant r is returned separately (our objective leaves it out).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "..", "shared", "data", "qp"))

INF = 1e19  # |bound| >= this is infinite (the files use 1e20)

# Optimal objective values (including r), from the literature.
OPTIMUM = {"CONT-200": -4.6848759e+00, "BOYD1": -6.1735220e+07}


def path_of(name, data_dir=DATA_DIR):
    return os.path.join(data_dir, f"{name}.mat")


def available(name, data_dir=DATA_DIR):
    return os.path.isfile(path_of(name, data_dir))


def load_qp(name, data_dir=DATA_DIR):
    """Problem dict (keys of problems.py: P full symmetric csr, q, A csr, b, cones)
    plus "r" (objective constant) and "obj_star" (literature optimum incl. r)."""
    from scipy.io import loadmat

    d = loadmat(path_of(name, data_dir))
    P = sp.csr_matrix(d["P"], dtype=float)
    A = sp.csr_matrix(d["A"], dtype=float)
    q = np.asarray(d["q"], float).ravel()
    lo = np.asarray(d["l"], float).ravel()
    up = np.asarray(d["u"], float).ravel()
    r = float(np.asarray(d["r"]).ravel()[0]) if "r" in d else 0.0
    # Exactly symmetric values (the file stores both triangles).
    P = sp.csr_matrix((P + P.T) * 0.5)
    P.sum_duplicates()
    P.sort_indices()
    eq = (lo == up) & (np.abs(up) < INF)
    upper = ~eq & (up < INF)
    lower = ~eq & (lo > -INF)
    A_rows = [A[eq], A[upper], -A[lower]]
    b = np.concatenate([up[eq], up[upper], -lo[lower]])
    Ac = sp.csr_matrix(sp.vstack(A_rows, format="csr"))
    Ac.sort_indices()
    cones = {"zero": int(eq.sum()), "nonneg": int(upper.sum() + lower.sum())}
    return dict(name=name, P=P, q=q, A=Ac, b=b, cones=cones, r=r, n=P.shape[0], m=Ac.shape[0],
                obj_star=OPTIMUM.get(name))
