"""Primitives, tracers, and the tracing machinery.

``Primitive.bind(*args, **params)`` is the one entry point of every operation:

- with concrete arguments it runs the primitive's NumPy implementation;
- when an argument is a :class:`Tracer`, it checks shapes and dtypes with the
  primitive's abstract-evaluation rule and records an equation in the
  innermost trace, returning new tracers.

Traces nest (``grad`` of a function that calls ``grad``): each has a level,
and a tracer of an outer trace seen by an inner one is captured as a
constant of the inner program.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Callable

import numpy as np

from ..errors import (DtypeError, FuncgradError, LeakedTracerError, TracerBoolError,
                      format_location, _internal)
from ..device_array import DeviceArray
from .ir import Eqn, Literal, Program, ShapedArray, Var, dead_code_elimination

__all__ = ["Primitive", "primitives", "Tracer", "Trace", "trace_flat", "aval_of", "is_tracer",
           "tracing", "trace_stack"]

primitives: dict[str, "Primitive"] = {}


class Primitive:
    """A named operation and its two own rules, defined with the primitive:

    - ``abstract_eval(*avals, **params) -> ShapedArray`` (or a list when
      ``multiple_results``): shapes and dtypes; raises a FuncgradError naming
      the operation for bad operands.
    - ``impl(*arrays, **params)``: the NumPy implementation (the interpreter).

    Every other rule lives in a table owned by the transformation (or
    backend) that uses it, keyed by the primitive object, as in JAX's
    Autodidax: the VJP rules in ``funcgrad.transforms.vjp.vjp_rules``
    (``vjp_rules[sin_p] = rule``), later ``jvp_rules`` and ``batch_rules``,
    and the backends' lowering tables.
    """

    def __init__(self, name: str, *, multiple_results: bool = False):
        if name in primitives:
            raise ValueError(f"primitive {name!r} defined twice")
        self.name = name
        self.multiple_results = multiple_results
        self.has_effect = False
        self.abstract_eval: Callable | None = None
        self.impl: Callable | None = None
        primitives[name] = self

    def __repr__(self):
        return self.name

    def def_abstract_eval(self, fn):
        self.abstract_eval = fn
        return fn

    def def_impl(self, fn):
        self.impl = fn
        return fn

    def bind(self, *args, **params):
        trace = _innermost_trace(args)
        if trace is None:
            self.abstract_eval(*[aval_of(a) for a in args], **params)
            return self.impl(*args, **params)
        return trace.record(self, args, params)


# ----------------------------------------------------------------------------- tracers

def aval_of(x) -> ShapedArray:
    if isinstance(x, Tracer):
        return x._var.aval
    if isinstance(x, DeviceArray):
        return ShapedArray(x.shape, x.dtype)
    return ShapedArray(np.shape(x), np.result_type(x))


def is_tracer(x) -> bool:
    return isinstance(x, Tracer)


class Tracer:
    """A value seen during tracing: shape and dtype known, contents not.

    NumPy's operators, methods and functions work on it (installed by
    ``funcgrad.numpy``); asking for its contents (``bool``, ``float``,
    ``np.asarray``) is an error that says what to use instead.
    """

    __slots__ = ("_trace", "_var", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, trace: "Trace", var: Var):
        self._trace = trace
        self._var = var

    @property
    def aval(self) -> ShapedArray:
        return self._var.aval

    @property
    def shape(self):
        return self._var.aval.shape

    @property
    def dtype(self):
        return self._var.aval.dtype

    @property
    def ndim(self):
        return len(self._var.aval.shape)

    @property
    def size(self):
        return self._var.aval.size

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        return f"Traced<{self.aval}>"

    def _concrete_error(self, what: str, hint: str):
        raise TracerBoolError(
            f"{what} needs the value of a traced array {self.aval}, which is not known while "
            f"funcgrad traces the function. {hint}")

    def __bool__(self):
        self._concrete_error(
            "Python control flow (`if`, `while`, `and`/`or`, bool())",
            "Use funcgrad.numpy.where(cond, x, y) to choose between values, fg.cond / fg.switch / "
            "fg.while_loop for branches and loops on traced values, or make the value static "
            "(fg.jit's static_argnums, or an argument that grad does not differentiate).")

    def __float__(self):
        self._concrete_error("float()", "Keep the value as an array; return it from the function to read it.")

    def __int__(self):
        self._concrete_error(
            "int() (a loop count, a shape, an index into a Python list)",
            "Pass such values as static arguments (fg.jit(f, static_argnums=...)); grad passes its "
            "non-differentiated arguments through as they are. For integer values inside the "
            "computation, use funcgrad.numpy operations (x.astype(int), fnp.int32(x)).")

    __index__ = __int__

    def __complex__(self):
        self._concrete_error("complex()", "")

    def __array__(self, dtype=None, copy=None):
        self._concrete_error(
            "Converting to a NumPy array (np.asarray, np.array, or a NumPy function funcgrad "
            "does not implement)",
            "Use funcgrad.numpy functions, or NumPy functions funcgrad supports, on traced values; "
            "for a cast, x.astype(np.int64) or fnp.int64(x) (NumPy's own np.int64(x) needs the value).")

    def __hash__(self):
        return id(self)


# ----------------------------------------------------------------------------- traces

class _ThreadState(threading.local):
    """The trace stack of one thread. Each thread traces on its own, as in JAX:
    a function traced in one thread never records into, or sees the tracers
    of, a trace that another thread has open."""

    def __init__(self):
        self.stack: list[Trace] = []


_state = _ThreadState()


def trace_stack() -> list["Trace"]:
    """This thread's open traces, outermost first."""
    return _state.stack


def tracing() -> bool:
    """Whether this thread is tracing (a transformation is staging operations)."""
    return bool(_state.stack)


def _innermost_trace(args):
    """The trace a primitive applied to ``args`` records into: the innermost
    active one of this thread, whatever the arguments (so that constants built
    inside a traced function, such as ``zeros`` or ``arange``, stay in the
    program)."""
    stack = _state.stack
    for a in args:
        if type(a) is Tracer:
            t = a._trace
            # a live trace of this thread sits at its level in this thread's stack
            if not (t.active and t.level <= len(stack) and stack[t.level - 1] is t):
                _leaked(a)
    return stack[-1] if stack else None


def _leaked(tracer):
    if tracer._trace.active:
        raise LeakedTracerError(
            f"a traced value {tracer.aval} of a function being traced in another thread was used "
            "here (it was shared through a global, a closure or an attribute). Each thread traces "
            "on its own: pass values as arguments and return results instead of sharing them.")
    raise LeakedTracerError(
        f"a traced value {tracer.aval} was used after the function that produced it finished "
        "tracing (it leaked out through a global, a closure or an attribute). Return "
        "values from the function instead of storing them.")


_source_cache: dict[str, bool] = {}


def _source_location():
    """The innermost frame of user code (outside funcgrad and numpy)."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        internal = _source_cache.get(filename)
        if internal is None:
            internal = _source_cache[filename] = _internal(os.path.abspath(filename))
        if not internal:
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
    return None


class Trace:
    """Records equations while a Python function runs on tracers."""

    def __init__(self, level: int):
        self.level = level
        self.active = True
        self.eqns: list[Eqn] = []
        self.in_vars: list[Var] = []
        self.const_vars: list[Var] = []
        self.consts: list = []
        self._const_ids: dict[int, Var] = {}
        self._producers: dict[Var, Eqn] = {}

    def producer(self, var: Var):
        """The equation that defined ``var`` in this trace, or None."""
        return self._producers.get(var)

    def new_arg(self, aval: ShapedArray) -> Tracer:
        v = Var(aval)
        self.in_vars.append(v)
        return Tracer(self, v)

    def to_atom(self, x):
        if type(x) is Tracer and x._trace is self:
            return x._var
        if type(x) is Tracer:  # a value of an outer trace: a constant here
            return self._capture(x, x.aval)
        if not isinstance(x, (np.ndarray, np.generic)):
            x = np.asarray(x)
        if x.ndim == 0:
            return Literal(x)
        return self._capture(x, ShapedArray(x.shape, x.dtype))

    def _capture(self, value, aval):
        v = self._const_ids.get(id(value))
        if v is None:
            v = Var(aval)
            self._const_ids[id(value)] = v
            self.const_vars.append(v)
            self.consts.append(value)  # keeps `value` alive, so its id stays unique
        return v

    def record(self, prim: Primitive, args, params):
        in_avals = [aval_of(a) for a in args]
        out = prim.abstract_eval(*in_avals, **params)
        atoms = [self.to_atom(a) for a in args]
        if prim.multiple_results:
            out_vars = [Var(a) for a in out]
        else:
            out_vars = [Var(out)]
        eqn = Eqn(prim, atoms, out_vars, params, _source_location())
        self.eqns.append(eqn)
        for v in out_vars:
            self._producers[v] = eqn
        tracers = [Tracer(self, v) for v in out_vars]
        return tracers if prim.multiple_results else tracers[0]


@contextmanager
def new_trace():
    stack = _state.stack
    trace = Trace(len(stack) + 1)
    stack.append(trace)
    try:
        yield trace
    finally:
        stack.pop()
        trace.active = False


def trace_flat(fun: Callable, in_avals, *, dce: bool = True) -> Program:
    """Trace ``fun(*tracers) -> list of arrays`` into a Program."""
    with new_trace() as trace:
        args = [trace.new_arg(a) for a in in_avals]
        outs = fun(*args)
        out_atoms = []
        for o in outs:
            if not isinstance(o, (Tracer, np.ndarray, np.generic)):
                o = np.asarray(o)
                if o.dtype == object:
                    raise DtypeError(f"a traced function returned a value of type {type(o).__name__}; "
                                     "outputs must be arrays or numbers")
            out_atoms.append(trace.to_atom(o))
    program = Program(trace.in_vars, trace.const_vars, trace.consts, trace.eqns, out_atoms)
    return dead_code_elimination(program) if dce else program


def check_abstract(prim_name: str, condition: bool, message: str, error=DtypeError):
    if not condition:
        raise error(f"{prim_name}: {message}")


__all__ += ["new_trace", "check_abstract", "FuncgradError", "format_location"]
