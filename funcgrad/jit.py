"""``fg.jit``: trace a function once per input signature and run it compiled.

    step = fg.jit(fg.value_and_grad(loss))
    value, grads = step(params, x, y)          # first call: trace + compile
    print(step.lower(params, x, y).as_text())  # the IR and the generated code

The signature is the pytree structure of the arguments, each leaf's shape and
dtype, and the values of the ``static_argnums`` arguments (which must be
hashable). As with ``jax.jit``, the Python function runs only when a new
signature is traced, so globals and closures are read at that time.
"""
from __future__ import annotations

import functools

import numpy as np

from . import tree as tree_util
from .api import _avals, _cache, _flatten_args, _run, _trace_user
from .core import trace as _trace
from .backends import get_backend
from .core.ir import Program
from .errors import InputError

__all__ = ["jit", "Lowered"]


class Lowered:
    """What ``jit`` compiles for one signature: the IR and, for the Numba
    backend, the generated Python source."""

    def __init__(self, program: Program, compiled, backend: str):
        self.program = program
        self.compiled = compiled
        self.backend = backend

    @property
    def ir(self) -> Program:
        return self.program

    @property
    def source(self) -> str | None:
        return getattr(self.compiled, "source", None)

    def as_text(self) -> str:
        text = f"# IR\n{self.program}\n"
        if self.source:
            text += f"\n# generated code ({self.backend} backend)\n{self.source}"
        return text

    def __str__(self):
        return self.as_text()


_ARRAY_TYPES = (np.ndarray, np.generic)
# Python numbers, typed as the slow path types them (np.asarray's defaults)
# (weakly typed: the third entry keeps them apart from 0-d arrays of the same dtype)
_PY_SIGNATURES = {float: ((), np.dtype(np.float64), True), int: ((), np.dtype(np.int64), True),
                  bool: ((), np.dtype(np.bool_), True)}


def _signature(leaves):
    """(shape, dtype) of each leaf, or None when a leaf needs the slow path
    (a traced value, or something that is neither an array nor a number)."""
    try:
        return tuple([(x.shape, x.dtype) if isinstance(x, _ARRAY_TYPES) else
                      _PY_SIGNATURES.get(type(x)) or _no_fast() for x in leaves])
    except _NoFast:
        return None


class _NoFast(Exception):
    pass


def _no_fast():
    raise _NoFast


class _Entry:
    __slots__ = ("lowered", "out_tree", "unflatten", "flatten")


def jit(fun=None, *, static_argnums=(), backend: str | None = None):
    """Compile ``fun`` (a pure function of arrays and pytrees) per signature.

    ``backend``: ``"numba"`` or ``"interpret"`` (the NumPy reference, for
    debugging); ``None`` (default) takes ``funcgrad.config.default_backend``
    at the time ``jit`` is applied (``"numba"`` unless ``FUNCGRAD_BACKEND``
    says otherwise).
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, backend=backend)
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    if backend is None:
        from . import config
        backend = config.default_backend
    compile_fn = get_backend(backend)

    def split(args):
        for i in static:
            if not -len(args) <= i < len(args):
                raise InputError(f"jit: static_argnums={static_argnums!r} but the function was called "
                                 f"with {len(args)} positional arguments")
        norm = {i % len(args) for i in static}
        statics = tuple((i, args[i]) for i in sorted(norm))
        try:
            hash(statics)
        except TypeError:
            raise InputError(f"jit: static arguments must be hashable, got "
                             f"{[type(v).__name__ for _, v in statics]}") from None
        dynamic = tuple(a for i, a in enumerate(args) if i not in norm)
        return statics, dynamic, len(args)

    def entry_for(args, kwargs):
        statics, dynamic, nargs = split(args)
        leaves, treedef, _, weak = _flatten_args(dynamic, kwargs, "jit")
        key = ("jit", treedef, _avals(leaves, weak), statics, backend)

        def build():
            static_map = dict(statics)

            def call(*dyn, **kw):
                it = iter(dyn)
                full = [static_map[i] if i in static_map else next(it) for i in range(nargs)]
                return fun(*full, **kw)

            program, out_tree = _trace_user(call, treedef, _avals(leaves, weak), "jit")
            e = _Entry()
            e.lowered = Lowered(program, compile_fn(program), backend)
            e.out_tree = out_tree
            e.unflatten = tree_util.unflattener(out_tree)
            e.flatten = None
            return e

        return _cache.get(fun, key, build), leaves

    fast_table: dict = {}
    last = [None, None]   # the structure seen last, and its specialised flattener

    @functools.wraps(fun)
    def jitted(*args, **kwargs):
        # Fast path: a signature seen before, concrete arrays and numbers only.
        sig = None
        if not static and not _trace._trace_stack:
            tree = (args, kwargs)
            treedef, flat = last
            leaves = flat(tree) if flat is not None else None
            if leaves is None:
                leaves, treedef = tree_util.flatten(tree)
            sig = _signature(leaves)
            if sig is not None:
                entry = fast_table.get((treedef, sig))
                if entry is not None:
                    if treedef is not last[0]:
                        last[0], last[1] = treedef, entry.flatten
                    return entry.unflatten(entry.lowered.compiled(*leaves))
        entry, leaves = entry_for(args, kwargs)
        if not static and not _trace._trace_stack and sig is not None:
            entry.flatten = tree_util.flattener(treedef)
            fast_table[(treedef, sig)] = entry
        outs = _run(entry.lowered.compiled, entry.lowered.program, leaves)
        return tree_util.unflatten(entry.out_tree, outs)

    def lower(*args, **kwargs) -> Lowered:
        return entry_for(args, kwargs)[0].lowered

    jitted.lower = lower
    return jitted
