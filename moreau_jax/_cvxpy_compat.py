"""Keep CVXPY from moving constraints into "direct cones" for solver="MOREAU".

Why (docs/cvxpy-integration.md has the full analysis): CVXPY 1.9 added the
reduction ``cvxpy/reductions/cone2cone/extract_direct_cones.py::ExtractDirectCones``.
It runs for every solver whose class advertises a non-empty ``DIR_CONE_KINDS``
(``cvxpy/reductions/solvers/solving_chain.py``: ``if dir_cone_kinds:
reductions.append(ExtractDirectCones(...))``), and CVXPY's ``MOREAU`` class
(``cvxpy/reductions/solvers/conic_solvers/moreau_conif.py``) advertises
``{'nonneg', 'soc', 'psd_triangle', 'exp', 'power', 'gen_power'}``. The
reduction deletes the rows of simple constraints such as ``x >= 0`` from A and
records them in ``ParamConeProg.dir_cones``. CVXPY's own ``solve_via_data``
forwards them as ``Cones.dir_cones``, but cvxpylayers (1.2.0 and earlier) builds
its ``moreau.Cones`` from the cone dimensions only, so those constraints are
dropped silently and cvxpylayers returns the solution of a different problem.

Both callers obtain the problem data from ``Problem.get_problem_data(solver=
"MOREAU")``, which builds its reduction chain from the class attribute
``MOREAU.DIR_CONE_KINDS``. Setting it to the empty set makes CVXPY keep these
constraints as ordinary slack rows of A (exactly the data CVXPY 1.8 produced),
which every consumer of the data handles. moreau-jax has no native direct-cone
path (the NumPy facade lifts ``dir_cones`` back to slack rows anyway), so no
speed is lost. No file of cvxpy or cvxpylayers is modified: the attribute is
set on the already-imported class at run time.

When it happens: CVXPY imports ``moreau`` while it is being imported itself
(``cvxpy/reductions/solvers/defines.py``: ``INSTALLED_SOLVERS =
installed_solvers()`` calls ``MOREAU.import_solver()``), after
``moreau_conif`` is loaded; ``moreau_jax`` patches then. If ``moreau`` is
imported before ``cvxpy``, an import hook patches ``moreau_conif`` as soon as
it has been executed. Set the environment variable
``MOREAU_JAX_CVXPY_DIRECT_CONES=1`` to leave CVXPY unchanged (then
``prob.solve(solver="MOREAU")`` still works through the facade's dir_cones
support, but cvxpylayers 1.2.0 gives wrong answers for such problems).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from typing import Any, Optional

__all__ = ["CVXPY_MOREAU_MODULE", "disable_cvxpy_direct_cones", "install", "is_patched"]

CVXPY_MOREAU_MODULE = "cvxpy.reductions.solvers.conic_solvers.moreau_conif"
ENV_KEEP = "MOREAU_JAX_CVXPY_DIRECT_CONES"
_ORIGINAL_ATTR = "_moreau_jax_original_DIR_CONE_KINDS"


def _keep_direct_cones() -> bool:
    return os.environ.get(ENV_KEEP, "").strip().lower() in ("1", "true", "yes", "on")


def disable_cvxpy_direct_cones(module: Any = None) -> bool:
    """Set ``MOREAU.DIR_CONE_KINDS = frozenset()`` on CVXPY's MOREAU interface.

    ``module``: the loaded ``moreau_conif`` module (default: take it from
    ``sys.modules``). Returns True if the class now advertises no direct cones
    (patched now or earlier, or a CVXPY without direct cones, e.g. 1.8.x);
    False if CVXPY's MOREAU interface is not loaded or the opt-out environment
    variable is set. The original value is kept in
    ``MOREAU._moreau_jax_original_DIR_CONE_KINDS``.
    """
    if _keep_direct_cones():
        return False
    if module is None:
        module = sys.modules.get(CVXPY_MOREAU_MODULE)
    cls = getattr(module, "MOREAU", None) if module is not None else None
    if cls is None:
        return False
    if "DIR_CONE_KINDS" not in vars(cls) and not hasattr(cls, "DIR_CONE_KINDS"):
        return True  # CVXPY without direct cones (<= 1.8): nothing to do
    if not hasattr(cls, _ORIGINAL_ATTR):
        setattr(cls, _ORIGINAL_ATTR, frozenset(cls.DIR_CONE_KINDS))
    cls.DIR_CONE_KINDS = frozenset()
    return True


def is_patched() -> bool:
    """True if CVXPY's MOREAU interface is loaded and advertises no direct cones."""
    module = sys.modules.get(CVXPY_MOREAU_MODULE)
    cls = getattr(module, "MOREAU", None) if module is not None else None
    return cls is not None and not getattr(cls, "DIR_CONE_KINDS", frozenset())


class _PatchingLoader(importlib.abc.Loader):
    """Wraps the real loader of moreau_conif; patches right after it executes."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec):  # noqa: D401 - loader protocol
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        disable_cvxpy_direct_cones(module)

    def __getattr__(self, name: str):  # get_code, get_source, ... for tools
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that only reacts to CVXPY's moreau_conif module."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        if fullname != CVXPY_MOREAU_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec


_installed = False


def install() -> None:
    """Patch CVXPY now if its MOREAU interface is loaded, else when it gets loaded."""
    global _installed
    if _installed or _keep_direct_cones():
        return
    _installed = True
    if CVXPY_MOREAU_MODULE in sys.modules:
        disable_cvxpy_direct_cones()
    else:
        sys.meta_path.insert(0, _Finder())
