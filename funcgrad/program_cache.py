"""Caches of transformed and compiled programs.

``grad``, ``value_and_grad`` and ``vjp`` trace the user's function on every
call (as ``jax.grad`` does) and reuse the transformed, compiled program
whenever the traced program is the same up to the values of its captured
arrays (``fingerprint``); ``jit`` keys by signature instead.

Numbers are another matter: a Python number the function reads from a
closure, or receives in a non-differentiated argument, is written into the
traced program as a literal. A value that changes from call to call (a
learning rate, a step count, an annealed temperature) would make every call
a new program and a new Numba compile. So the cache watches literals: the
first set of values seen for a program's structure is compiled with the
literals inline (the best code), and once another set of values turns up,
the literals that changed become inputs of one more program, which then
serves every further value (``lift_literals``). Literals inside the bodies of
control flow stay inline (a new value there is a new program).
"""
from __future__ import annotations

import threading
import weakref

from .core.ir import Eqn, Literal, Program, Var

__all__ = ["ProgramCache", "program_cache", "fingerprint", "structure_key", "lift_literals",
           "constants_as_inputs", "CachedProgram"]


# ----------------------------------------------------------------------------- keys

def structure_key(program: Program) -> tuple[tuple, tuple]:
    """``(skeleton, literal_values)``: a hashable description of ``program``
    equal for programs that differ only in the values of their captured
    constants (``skeleton``), and the bytes of its top-level literals in
    order of appearance (``literal_values``). Variables are numbered by
    position."""
    index = {}
    values = []
    rows = [tuple(v.aval for v in program.const_vars), tuple(v.aval for v in program.in_vars)]
    for v in list(program.const_vars) + list(program.in_vars):
        index[v] = len(index)

    def atom(a):
        if type(a) is Var:
            return index[a]
        values.append(a.value.tobytes())
        return ("L", a.aval.dtype.str)

    for e in program.eqns:
        rows.append((e.primitive.name, tuple((k, _param_key(v)) for k, v in e.params.items()),
                     tuple(atom(a) for a in e.inputs)))
        for o in e.outputs:
            index[o] = len(index)
    # literal outputs are part of the skeleton: lift_literals keeps them inline
    rows.append(tuple(index[a] if type(a) is Var else (a.aval.dtype.str, a.value.tobytes())
                      for a in program.out_atoms))
    return tuple(rows), tuple(values)


def fingerprint(program: Program) -> tuple:
    """A hashable key equal for programs that differ only in the values of
    their captured constants."""
    return structure_key(program)


def _param_key(value):
    """Parameters are hashable, except bodies of control flow (Programs,
    which hash by identity): those are keyed by their own fingerprint."""
    if isinstance(value, Program):
        return ("program", fingerprint(value))
    if isinstance(value, tuple) and value and isinstance(value[0], Program):
        return tuple(_param_key(v) for v in value)
    return value


# ----------------------------------------------------------------------------- passes

def constants_as_inputs(program: Program) -> Program:
    """``program`` with its captured constants as leading inputs, so that its
    transformed and compiled forms serve every value of those constants."""
    return Program(list(program.const_vars) + list(program.in_vars), [], [], program.eqns,
                   program.out_atoms)


def lift_literals(program: Program, positions) -> Program:
    """``program`` with its top-level literals number ``positions`` (in
    order of appearance, as ``structure_key`` lists them) turned into
    captured constants, appended after the existing ones."""
    positions = set(positions)
    lifted_vars, lifted_values, eqns, k = [], [], [], 0
    for e in program.eqns:
        inputs = []
        for a in e.inputs:
            if type(a) is Literal:
                if k in positions:
                    v = Var(a.aval)
                    lifted_vars.append(v)
                    lifted_values.append(a.value)
                    a = v
                k += 1
            inputs.append(a)
        eqns.append(Eqn(e.primitive, inputs, e.outputs, e.params, e.source))
    return Program(program.in_vars, list(program.const_vars) + lifted_vars,
                   list(program.consts) + lifted_values, eqns, program.out_atoms)


def _literal_values(program: Program, positions) -> list:
    positions = set(positions)
    out, k = [], 0
    for e in program.eqns:
        for a in e.inputs:
            if type(a) is Literal:
                if k in positions:
                    out.append(a.value)
                k += 1
    return out


# ----------------------------------------------------------------------------- the cache

class CachedProgram:
    """What a lookup returns: the built entry, and the constant values to
    pass ahead of the arguments (the program's captured constants, then the
    values of its lifted literals)."""

    __slots__ = ("entry", "consts")

    def __init__(self, entry, consts):
        self.entry = entry
        self.consts = consts


class _LiftState:
    """Per (function, structure): the literal values first seen, and the
    program with the changing literals lifted, once there is one."""

    __slots__ = ("lock", "first", "positions", "entry", "disabled")

    def __init__(self):
        self.lock = threading.Lock()
        self.first = None
        self.positions = frozenset()
        self.entry = None
        self.disabled = False


class _Table:
    __slots__ = ("entries", "building", "__weakref__")

    def __init__(self):
        self.entries: dict = {}
        self.building: dict = {}    # key -> the lock held while that key is built


_MISSING = object()


class ProgramCache:
    """Per-function cache of built programs.

    Weakly keyed by the function, so that caching never keeps a user's
    function alive. Safe under concurrent use: lookups of built entries take
    no lock; a key is built once (threads that ask for it meanwhile wait for
    that build), and different keys build at the same time (a long compile of
    one program never holds up tracing another)."""

    def __init__(self):
        self._by_fun = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()   # guards _by_fun and each table's `building`

    def _table(self, fun):
        try:
            with self._lock:
                table = self._by_fun.get(fun)
                if table is None:
                    table = self._by_fun[fun] = _Table()
                return table
        except TypeError:  # not weak-referenceable: no caching
            return None

    def get(self, fun, key, build):
        """The entry for ``key``, built by ``build()`` the first time."""
        table = self._table(fun)
        if table is None:
            return build()
        entry = table.entries.get(key, _MISSING)
        if entry is not _MISSING:
            return entry
        with self._lock:
            # re-entrant: a build that asks for its own key recurses (and fails
            # with RecursionError) instead of waiting for itself forever
            key_lock = table.building.setdefault(key, threading.RLock())
        try:
            with key_lock:
                entry = table.entries.get(key, _MISSING)
                if entry is _MISSING:
                    entry = build()     # if it raises, the next caller tries again
                    table.entries[key] = entry
                return entry
        finally:
            with self._lock:
                if table.building.get(key) is key_lock:
                    del table.building[key]

    def get_traced(self, fun, tag, program: Program, build) -> CachedProgram:
        """The entry built by ``build(p)`` for a traced ``program`` (or for
        ``p``, ``program`` with some literals lifted), keyed by ``tag`` and the
        program's structure; see the module's docstring."""
        skeleton, values = structure_key(program)
        key = (tag, skeleton, values)
        table = self._table(fun)
        consts = list(program.consts)
        if table is not None and values:
            entry = table.entries.get(key, _MISSING)
            if entry is not _MISSING:
                return CachedProgram(entry, consts)
            state = self.get(fun, (tag, skeleton, "lift"), _LiftState)
            lifted = self._lifted(state, fun, tag, skeleton, program, values, build)
            if lifted is not None:
                return lifted
        return CachedProgram(self.get(fun, key, lambda: build(program)), consts)

    def _lifted(self, state, fun, tag, skeleton, program, values, build):
        with state.lock:
            if state.disabled:
                return None
            if state.first is None:
                state.first = values
                return None
            if state.entry is not None and all(values[i] == state.first[i] for i in range(len(values))
                                               if i not in state.positions):
                return CachedProgram(state.entry,
                                     list(program.consts) + _literal_values(program, state.positions))
            changed = {i for i, (a, b) in enumerate(zip(values, state.first)) if a != b}
            if not changed:
                return None
            positions = frozenset(changed | state.positions)
            lifted = lift_literals(program, positions)
            try:
                entry = build(lifted)
            except Exception:
                # some primitive needs this literal's value at trace time: keep
                # compiling one program per value, as without lifting
                state.disabled = True
                return None
            state.positions, state.entry = positions, entry
            return CachedProgram(entry, list(program.consts) + _literal_values(program, positions))


program_cache = ProgramCache()
