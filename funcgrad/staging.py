"""Running a transformed function: one traced, compiled program per call site.

The transformations of :mod:`funcgrad.jacobians` and :mod:`funcgrad.vectorize`
are written as Python functions over flat lists of leaves that call the
interpreters of ``funcgrad.transforms`` (``jvp_program``, ``batch_program``)
on traced values. :func:`call_staged` runs such a function:

- inside a trace (the transformation is itself being transformed or jitted),
  it simply calls it, so its equations land in the enclosing trace;
- otherwise it traces it into a Program, compiles that with the backend, and
  caches the compiled program by the traced program's structure (as ``grad``
  does: ``funcgrad.program_cache``), so a second call with arrays of the same
  shapes runs compiled code at once.

:func:`call_split` does the same for a function whose inputs come in two
rounds (``linearize``: primals now, tangents later), cutting its program in
two with ``split_program``.
"""
from __future__ import annotations

import numpy as np

from .api import _avals, _unaliased
from .backends import get_backend
from .core import trace as _trace
from .core.trace import Tracer, trace_flat
from .program_cache import constants_as_inputs, program_cache
from .transforms.vjp import split_program

__all__ = ["call_staged", "call_split", "avals_of"]


def avals_of(leaves, weak=None):
    return list(_avals(leaves, weak))


def _inline(leaves) -> bool:
    return _trace.tracing() or any(isinstance(x, Tracer) for x in leaves)


class _Compiled:
    """A traced program (constants as leading inputs) and its compiled form,
    compiled on the first call from outside any trace."""

    __slots__ = ("program", "_compile", "_run")

    def __init__(self, program, compile_fn):
        self.program = constants_as_inputs(program)
        self._compile = compile_fn
        self._run = None

    def __call__(self, args):
        if self._run is None:
            self._run = self._compile(self.program)
        return self._run(*args)


def call_staged(key, tag, flat_fun, leaves, weak=None, backend=None):
    """``flat_fun(*leaves) -> list of leaves``, compiled (see the module docstring).

    ``key`` (the user's function) and ``tag`` (the transformation and its static
    options) name the cache entry together with the traced program's structure."""
    if _inline(leaves):
        return list(flat_fun(*leaves))
    compile_fn = get_backend(backend)
    program = trace_flat(flat_fun, avals_of(leaves, weak))
    cached = program_cache.get_traced(key, (tag, backend), program,
                                      lambda p: _Compiled(p, compile_fn))
    outs = cached.entry(list(cached.consts) + list(leaves))
    return list(_unaliased(outs, cached.consts))


def call_split(key, tag, flat_fun, now, later_avals, weak=None, backend=None):
    """``flat_fun(*now, *later) -> (outs_now, outs_later)`` with the ``later``
    inputs unknown yet. Returns ``(outs_now, finish)``: the outputs that depend
    on ``now`` only, computed at once, and ``finish(*later) -> outs_later``,
    which runs only the part of the program that depends on ``later`` (its
    other inputs are residuals computed now)."""
    n_now = len(now)
    counts = []

    def joint(*xs):
        first, second = flat_fun(*xs)
        counts[:] = [len(first), len(second)]
        return list(first) + list(second)

    if _inline(now):
        def finish_inline(*later):
            first_again, second = flat_fun(*now, *later)
            return list(second)
        first, _ = flat_fun(*now, *[_placeholder(a) for a in later_avals])
        return list(first), finish_inline

    compile_fn = get_backend(backend)
    program = trace_flat(joint, avals_of(now, weak) + list(later_avals))
    n_first = counts[0]

    def build(p):
        closed = constants_as_inputs(p)
        n_consts = len(p.consts)
        forward, backward, known_out = split_program(closed, n_consts + n_now)
        return _Split(forward, backward, known_out, n_first, compile_fn)

    cached = program_cache.get_traced(key, (tag, "split", backend), program, build)
    return cached.entry.run(list(cached.consts) + list(now))


def _placeholder(aval):
    return np.zeros(aval.shape, aval.dtype)


class _Split:
    __slots__ = ("forward", "backward", "known_out", "n_first", "_compile", "_fwd", "_bwd")

    def __init__(self, forward, backward, known_out, n_first, compile_fn):
        self.forward, self.backward, self.known_out, self.n_first = forward, backward, known_out, n_first
        self._compile = compile_fn
        self._fwd = self._bwd = None

    def run(self, now):
        if self._fwd is None:
            self._fwd, self._bwd = self._compile(self.forward), self._compile(self.backward)
        res = self._fwd(*now)
        n_known = sum(self.known_out)
        known, residuals = res[:n_known], res[n_known:]
        known_iter = iter(known)
        # the outputs of the first round depend on `now` only: all known
        first = [next(known_iter) for _ in range(self.n_first)]
        later_known = list(known_iter)
        later_mask = self.known_out[self.n_first:]

        def finish(*later):
            unknown = iter(self._bwd(*residuals, *later))
            fixed = iter(later_known)
            return [np.array(next(fixed), copy=True) if k else next(unknown) for k in later_mask]
        return first, finish
