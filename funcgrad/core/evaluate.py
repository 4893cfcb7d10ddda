"""``eval_program``: a Program evaluated one equation at a time, with each
primitive's NumPy implementation (the reference semantics of the IR).

Inside an active trace (a transformation applied to traced values), the same
walk binds each primitive instead, which inlines the program into the
enclosing trace: that is how ``grad`` composes with ``make_ir``, ``jit`` and
``grad`` itself, and how loop primitives evaluate their bodies. It lives in
``core`` so that primitives (the loops' implementations), transformations and
backends all use it without importing each other.
"""
from __future__ import annotations

from . import trace as _trace
from .ir import Literal, Program

__all__ = ["eval_program"]


def eval_program(program: Program, args, consts=None) -> list:
    """The values of ``program``'s outputs for ``args`` (and ``consts``, by
    default its own captured constants)."""
    env = {}
    for v, c in zip(program.const_vars, program.consts if consts is None else consts):
        env[v] = c
    for v, a in zip(program.in_vars, args):
        env[v] = a
    staging = _trace.tracing()
    for eqn in program.eqns:
        invals = [a.value if type(a) is Literal else env[a] for a in eqn.inputs]
        if staging:
            outs = eqn.primitive.bind(*invals, **eqn.params)
        else:
            outs = eqn.primitive.impl(*invals, **eqn.params)
        if eqn.primitive.multiple_results:
            for v, o in zip(eqn.outputs, outs):
                env[v] = o
        else:
            env[eqn.outputs[0]] = outs
    return [a.value if type(a) is Literal else env[a] for a in program.out_atoms]
