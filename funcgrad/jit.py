"""``fg.jit``: trace a function once per input signature and run it compiled.

    step = fg.jit(fg.value_and_grad(loss))
    value, grads = step(params, x, y)          # first call: trace + compile
    print(step.lower(params, x, y).as_text())  # the IR and the generated code

The signature is the pytree structure of the arguments, each leaf's shape and
dtype, and the values of the static arguments (``static_argnums`` and
``static_argnames``, which must be hashable). As with ``jax.jit``, the Python
function runs only when a new signature is traced, so globals and closures
are read at that time.
"""
from __future__ import annotations

import functools

import numpy as np

from . import tree as tree_util
from .device_array import DeviceArray
from .api import _avals, _flatten_args, _run, _trace_user
from .program_cache import program_cache as _cache
from .core import trace as _trace
from .backends import get_backend
from .core.ir import Program
from .errors import InputError

__all__ = ["jit", "Lowered"]

_thread_state = _trace._state   # this thread's trace stack, read on every call


class Lowered:
    """What ``jit`` compiles for one signature: the IR and, for the Numba
    backend, the generated Python source.

    ``ir`` is the program the backend runs: for the Numba backend the traced
    program after the pass pipeline (``funcgrad.passes.default_pipeline``,
    unless ``funcgrad.config.passes`` is off), for the interpreter the traced
    program itself. ``ir_before_passes`` (also ``program``) is the program as
    traced, and ``passes()`` the record of every pass (None where none ran)."""

    def __init__(self, program: Program, compiled, backend: str):
        self.program = program      # as traced: what calls inside another trace inline
        self.compiled = compiled
        self.backend = backend

    @property
    def ir(self) -> Program:
        return getattr(self.compiled, "program", None) or self.program

    @property
    def ir_before_passes(self) -> Program:
        return self.program

    def passes(self):
        """A :class:`funcgrad.passes.PassTrace` of the IR as traced and after
        each pass (printable), or None when the backend ran the program as traced."""
        if self.ir is self.program:
            return None
        from .passes import PassTrace, default_pipeline, inline_calls

        record = default_pipeline.run(self.program, record=True)
        inlined = inline_calls(record.output)
        if inlined is not record.output:   # custom-derivative and checkpoint calls, as the backend inlines them
            record = PassTrace(list(record.stages) + [("inline_calls", inlined)])
        return record

    @property
    def fusion_plan(self):
        """The fusion plan of ``ir`` (:func:`funcgrad.passes.plan_fusion`, printable): for the
        Numba backend, the one its code generator renders (chunk and thread settings included)."""
        if self.backend == "numba":
            from .backends.numba_backend import codegen, parallel_enabled
            return codegen.fusion_plan(self.ir, parallel_enabled())
        from .passes import plan_fusion
        return plan_fusion(self.ir)

    @property
    def source(self) -> str | None:
        return getattr(self.compiled, "source", None)

    def as_text(self, passes: bool = False) -> str:
        """The IR (after the passes) and the generated code; with
        ``passes=True`` the IR as traced and after every pass instead of the
        final IR alone."""
        record = self.passes() if passes else None
        if record is not None:
            text = f"# IR through the passes: {record.summary()}\n\n{record}\n"
        elif passes:
            text = f"# IR (no passes ran: {self._why_no_passes()})\n{self.ir}\n"
        else:
            text = f"# IR\n{self.ir}\n"
        if self.source:
            text += f"\n# generated code ({self.backend} backend)\n{self.source}"
        return text

    def _why_no_passes(self) -> str:
        if self.backend == "interpret":
            return "the interpreter runs programs as traced"
        return "funcgrad.config.passes was off when it compiled"

    def __str__(self):
        return self.as_text()


_ARRAY_TYPES = (np.ndarray, np.generic, DeviceArray)
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


def _as_tuple(value, kind, what):
    if value is None:
        return ()
    if isinstance(value, kind):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        out = None
    if out is None or not all(isinstance(v, kind) for v in out):
        raise InputError(f"jit: {what} must be {'an int' if kind is int else 'a str'} or a sequence "
                         f"of them, got {value!r}")
    return out


def _resolve_static(fun, nums, names):
    """``static_argnums`` and ``static_argnames`` completed from each other
    through ``fun``'s signature, as jax.jit does: an argument marked static
    by position is static when passed by name too, and the other way round."""
    import inspect

    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):   # builtins, some callables: keep what was given
        return nums, names
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name for p in params if p.kind is not p.POSITIONAL_ONLY}
    nums, names = set(nums), set(names)
    for i in list(nums):
        if -len(positional) <= i < len(positional) and positional[i] in by_name:
            names.add(positional[i])
    for n in list(names):
        if n in positional:
            nums.add(positional.index(n))
    return tuple(sorted(nums)), tuple(sorted(names))


def jit(fun=None, *, static_argnums=(), static_argnames=(), donate_argnums=(), donate_argnames=(),
        backend: str | None = None):
    """Compile ``fun`` (a pure function of arrays and pytrees) per signature.

    ``static_argnums`` / ``static_argnames``: arguments (by position / by
    keyword) passed to ``fun`` as the Python values they are, not traced: any
    hashable value (ints for loop counts or shapes, strings, tuples,
    callables); each distinct value is traced and compiled once. As in
    ``jax.jit``, one also marks the other through ``fun``'s signature.

    ``donate_argnums`` / ``donate_argnames``: accepted for compatibility with
    ``jax.jit`` and ignored: funcgrad never writes into its inputs, so a
    donated array stays valid and unchanged (no buffer is reused).

    ``backend``: ``"numba"``, ``"vm"`` (the machine that runs programs encoded
    as data, compiled once: no per-program compile) or ``"interpret"`` (the
    NumPy reference, for debugging); ``None`` (default) takes ``funcgrad.config.default_backend``
    at the time ``jit`` is applied (``"numba"`` unless ``FUNCGRAD_BACKEND``
    says otherwise).
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, donate_argnames=donate_argnames,
                                 backend=backend)
    static_nums = _as_tuple(static_argnums, int, "static_argnums")
    static_names = _as_tuple(static_argnames, str, "static_argnames")
    _as_tuple(donate_argnums, int, "donate_argnums")
    _as_tuple(donate_argnames, str, "donate_argnames")
    static_nums, static_names = _resolve_static(fun, static_nums, static_names)
    has_static = bool(static_nums or static_names)
    if backend is None:
        from . import config
        backend = config.default_backend
    compile_fn = get_backend(backend)

    def split(args, kwargs):
        """(statics, dynamic args, dynamic kwargs): the static values as a
        hashable key, the rest to trace."""
        nargs = len(args)
        norm = {i % nargs for i in static_nums if -nargs <= i < nargs}
        # the type is part of the key: 1, 1.0 and True are equal but trace differently
        statics = tuple((i, type(args[i]), args[i]) for i in sorted(norm))
        if static_names:
            statics += tuple((k, type(kwargs[k]), kwargs[k]) for k in static_names if k in kwargs)
            kwargs = {k: v for k, v in kwargs.items() if k not in static_names}
        try:
            hash(statics)
        except TypeError:
            bad = [(i, t.__name__) for i, t, v in statics if not _hashable(v)]
            raise InputError(
                "jit: static arguments must be hashable (they key the compiled program), got "
                + ", ".join(f"{'argument ' + str(i) if isinstance(i, int) else repr(i)}: a {t}"
                            for i, t in bad)
                + ". Pass arrays as ordinary (traced) arguments, or convert lists to tuples") from None
        dynamic = tuple(a for i, a in enumerate(args) if i not in norm) if norm else args
        return statics, dynamic, kwargs

    def entry_for(args, kwargs):
        statics, dynamic, dyn_kwargs = split(args, kwargs)
        leaves, treedef, _, weak = _flatten_args(dynamic, dyn_kwargs, "jit")
        key = ("jit", treedef, _avals(leaves, weak), statics, backend)

        def build():
            static_pos = {i: v for i, _, v in statics if isinstance(i, int)}
            static_kw = {k: v for k, _, v in statics if isinstance(k, str)}
            nargs = len(args)

            def call(*dyn, **kw):
                it = iter(dyn)
                full = [static_pos[i] if i in static_pos else next(it) for i in range(nargs)]
                return fun(*full, **kw, **static_kw)

            program, out_tree = _trace_user(call, treedef, _avals(leaves, weak), "jit")
            e = _Entry()
            e.lowered = Lowered(program, compile_fn(program), backend)
            e.out_tree = out_tree
            e.unflatten = tree_util.unflattener(out_tree)
            e.flatten = None
            return e

        return _cache.get(fun, key, build), leaves, treedef, statics, dynamic, dyn_kwargs

    # Fast path: calls whose signature was seen before skip tracing and the
    # general flattening. The tables are shared by every thread: dict reads and
    # writes are atomic, and `last` is replaced whole, never updated in place.
    fast_table: dict = {}
    last = (None, None)   # the structure seen last, and its specialised flattener

    @functools.wraps(fun)
    def jitted(*args, **kwargs):
        nonlocal last
        if _thread_state.stack:   # inside another transformation: inline, no fast path
            entry, leaves = entry_for(args, kwargs)[:2]
            outs = _run(entry.lowered.compiled, entry.lowered.program, leaves)
            return tree_util.unflatten(entry.out_tree, outs)
        if has_static:
            statics, dynamic, dyn_kwargs = split(args, kwargs)
            tree = (dynamic, dyn_kwargs)
        else:
            statics, tree = (), (args, kwargs)
        treedef, flat = last
        leaves = flat(tree) if flat is not None else None
        if leaves is None:
            leaves, treedef = tree_util.flatten(tree)
        sig = _signature(leaves)
        if sig is not None:
            entry = fast_table.get((treedef, sig, statics) if has_static else (treedef, sig))
            if entry is not None:
                if treedef is not last[0]:
                    last = (treedef, entry.flatten)
                return entry.unflatten(entry.lowered.compiled(*leaves))
        entry, leaves, treedef, statics, _, _ = entry_for(args, kwargs)
        if sig is not None:
            entry.flatten = tree_util.flattener(treedef)
            fast_table[(treedef, sig, statics) if has_static else (treedef, sig)] = entry
        outs = _run(entry.lowered.compiled, entry.lowered.program, leaves)
        return tree_util.unflatten(entry.out_tree, outs)

    def lower(*args, **kwargs) -> Lowered:
        return entry_for(args, kwargs)[0].lowered

    jitted.lower = lower
    return jitted


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True
