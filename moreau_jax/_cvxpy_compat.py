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

A second, independent fix (section "cvxpylayers" below): cvxpylayers permutes
CVXPY's cached parametrization matrices in place, so a second ``CvxpyLayer``
from the same problem, or ``problem.solve()`` after building a layer, solved a
scrambled problem. ``get_solver_ctx`` / ``parse_args`` are wrapped so that the
layer keeps its permuted copy and CVXPY's cache is left unchanged. This one has
no opt-out (it only removes wrong answers).

A third fix (section "cvxpylayers cones"): cvxpylayers' Moreau interface
(``cvxpylayers/interfaces/moreau_if.py::_cvxpy_dims_to_moreau_cones``, 1.1.0 and
1.2.0) builds ``moreau.Cones`` from the zero, nonneg, SOC, exp and 3-D power
dimensions only. The rows of CVXPY's ``PowConeND`` (dims key ``'pnd'``) and PSD
(``'s'``) constraints are in the data but in no cone, so a layer with them
cannot describe its problem. The wrapper adds ``gen_power_cone_params`` (one
``(alphas, 1)`` per PowConeND column, as CVXPY's own MOREAU interface does) and
``psd_dims``. Without it such a layer stops with the "cone sizes sum to ..."
ValueError before solving (never a wrong answer); with it the layer solves.
"""

from __future__ import annotations

import copy
import functools
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "CVXPY_MOREAU_MODULE",
    "CVXPYLAYERS_INTERFACES",
    "CVXPYLAYERS_PARSE_ARGS",
    "cvxpylayers_patched",
    "disable_cvxpy_direct_cones",
    "install",
    "is_patched",
    "patch_cvxpylayers_interfaces",
    "patch_cvxpylayers_parse_args",
    "patch_cvxpylayers_cones",
]

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


# ---------------------------------------------------------------------------
# cvxpylayers: a second layer built from the same cp.Problem gets wrong data
# ---------------------------------------------------------------------------
#
# cvxpylayers (1.1.0 and 1.2.0, ``cvxpylayers/interfaces/__init__.py::
# get_solver_ctx``) row-permutes the parametrization matrices into CSR order and
# writes them back IN PLACE on CVXPY's cached ``ParamConeProg``
# (``param_prob.reduced_P.reduced_mat = permuted``). ``problem.get_problem_data``
# returns that cached object again next time, so
#
# - a second ``CvxpyLayer`` built from the same problem (the seed page does this:
#   its "Solver Arguments" layer reuses the "Basic Usage" problem) permutes the
#   already permuted matrices and solves a scrambled problem (the seed QP at
#   q = 1..5 came out [0, 0, 1, 0, 0], a third layer violated x >= 0), and
# - ``problem.solve(solver="MOREAU")`` after building a layer applies the
#   permuted matrices with CVXPY's unpermuted index: wrong answer too.
#
# Fix: ``get_solver_ctx`` remembers the matrices it found; when ``parse_args``
# returns, the layer's context gets its own shallow copies of the ReducedMat
# objects (holding the permuted matrices, which the layer reads once in its
# constructor) and CVXPY's cached objects get their original matrices back.

CVXPYLAYERS_INTERFACES = "cvxpylayers.interfaces"
CVXPYLAYERS_PARSE_ARGS = "cvxpylayers.utils.parse_args"
_WRAPPED_ATTR = "_moreau_jax_wrapped"
_tls = threading.local()


def _snapshot(param_prob: Any) -> List[Tuple[Any, Any]]:
    out = []
    for name in ("reduced_P", "reduced_A"):
        rm = getattr(param_prob, name, None)
        if rm is not None and hasattr(rm, "reduced_mat"):
            out.append((rm, rm.reduced_mat))
    return out


def _wrap_get_solver_ctx(inner):
    @functools.wraps(inner)
    def get_solver_ctx(solver, param_prob, *args, **kwargs):
        saved = _snapshot(param_prob)
        pending = getattr(_tls, "pending", None)
        if pending is not None:  # inside parse_args: restore when it returns
            pending.append(saved)
        return inner(solver, param_prob, *args, **kwargs)

    setattr(get_solver_ctx, _WRAPPED_ATTR, True)
    return get_solver_ctx


def _restore(pending: List[List[Tuple[Any, Any]]], ctx: Any) -> None:
    for saved in pending:
        for rm, original in saved:
            if rm.reduced_mat is original:
                continue
            if ctx is not None:
                own = copy.copy(rm)  # shallow: keeps the permuted matrix
                for field in ("reduced_P", "reduced_A"):
                    if getattr(ctx, field, None) is rm:
                        setattr(ctx, field, own)
            rm.reduced_mat = original


def _wrap_parse_args(inner):
    @functools.wraps(inner)
    def parse_args(*args, **kwargs):
        previous = getattr(_tls, "pending", None)
        pending: List[List[Tuple[Any, Any]]] = []
        _tls.pending = pending
        try:
            ctx = inner(*args, **kwargs)
        except BaseException:
            _restore(pending, None)
            raise
        finally:
            _tls.pending = previous
        _restore(pending, ctx)
        return ctx

    setattr(parse_args, _WRAPPED_ATTR, True)
    return parse_args


def _wrap_in_module(module_name: str, attr: str, wrap: Callable[[Any], Any], module: Any) -> bool:
    """Replace ``module.attr`` by ``wrap(module.attr)`` once; False if not loaded."""
    module = module if module is not None else sys.modules.get(module_name)
    fn = getattr(module, attr, None) if module is not None else None
    if fn is None:
        return False
    if not getattr(fn, _WRAPPED_ATTR, False):
        setattr(module, attr, wrap(fn))
    return True


def patch_cvxpylayers_interfaces(module: Any = None) -> bool:
    """Wrap ``cvxpylayers.interfaces.get_solver_ctx`` (see the note above)."""
    return _wrap_in_module(CVXPYLAYERS_INTERFACES, "get_solver_ctx", _wrap_get_solver_ctx, module)


def patch_cvxpylayers_parse_args(module: Any = None) -> bool:
    """Wrap ``cvxpylayers.utils.parse_args.parse_args`` (see the note above)."""
    return _wrap_in_module(CVXPYLAYERS_PARSE_ARGS, "parse_args", _wrap_parse_args, module)


# ---------------------------------------------------------------------------
# cvxpylayers cones
# ---------------------------------------------------------------------------

CVXPYLAYERS_MOREAU_IF = "cvxpylayers.interfaces.moreau_if"


def _wrap_dims_to_cones(inner):
    @functools.wraps(inner)
    def _cvxpy_dims_to_moreau_cones(dims):
        cones = inner(dims)
        pnd = dims.get("pnd") or []
        psd = dims.get("s") or []
        if pnd and not cones.gen_power_cone_params:
            cones.gen_power_cone_params = [([float(a) for a in alphas], 1) for alphas in pnd]
        if psd and not cones.psd_dims:
            cones.psd_dims = [int(k) for k in psd]
        return cones

    setattr(_cvxpy_dims_to_moreau_cones, _WRAPPED_ATTR, True)
    return _cvxpy_dims_to_moreau_cones


def patch_cvxpylayers_cones(module: Any = None) -> bool:
    """Wrap ``cvxpylayers.interfaces.moreau_if._cvxpy_dims_to_moreau_cones`` (see
    the module docstring: PowConeND / PSD rows get their cones)."""
    return _wrap_in_module(CVXPYLAYERS_MOREAU_IF, "_cvxpy_dims_to_moreau_cones", _wrap_dims_to_cones, module)


def cvxpylayers_patched() -> bool:
    """True if both cvxpylayers functions are loaded and wrapped."""
    mods = [sys.modules.get(CVXPYLAYERS_INTERFACES), sys.modules.get(CVXPYLAYERS_PARSE_ARGS)]
    fns = [getattr(mods[0], "get_solver_ctx", None), getattr(mods[1], "parse_args", None)]
    return all(getattr(f, _WRAPPED_ATTR, False) for f in fns)


# ---------------------------------------------------------------------------
# Import hook
# ---------------------------------------------------------------------------


def _patchers() -> Dict[str, Callable[[Any], Any]]:
    out: Dict[str, Callable[[Any], Any]] = {
        CVXPYLAYERS_INTERFACES: patch_cvxpylayers_interfaces,
        CVXPYLAYERS_PARSE_ARGS: patch_cvxpylayers_parse_args,
        CVXPYLAYERS_MOREAU_IF: patch_cvxpylayers_cones,
    }
    if not _keep_direct_cones():
        out[CVXPY_MOREAU_MODULE] = disable_cvxpy_direct_cones
    return out


class _PatchingLoader(importlib.abc.Loader):
    """Wraps the real loader of a patched module; patches right after it executes."""

    def __init__(self, inner: importlib.abc.Loader, patch: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._patch = patch

    def create_module(self, spec):  # noqa: D401 - loader protocol
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        self._patch(module)

    def __getattr__(self, name: str):  # get_code, get_source, ... for tools
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that only reacts to the modules listed in ``_patchers()``."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        patch = _patchers().get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


_installed = False


def install() -> None:
    """Patch CVXPY / cvxpylayers now where loaded, else when they get loaded."""
    global _installed
    if _installed:
        return
    _installed = True
    patchers = _patchers()
    if any(name not in sys.modules for name in patchers):
        sys.meta_path.insert(0, _Finder())
    for name, patch in patchers.items():
        if name in sys.modules:
            patch(sys.modules[name])
