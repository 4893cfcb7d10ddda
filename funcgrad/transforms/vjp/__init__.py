"""Reverse mode: the vector-Jacobian product of a Program, as a Program.

:func:`backward_pass` is an interpreter: it runs a program forward (binding
each primitive, so that under a trace it records the forward equations), then
walks the equations backwards applying each primitive's VJP rule, looked up
in :data:`vjp_rules`.
Cotangents of a variable used several times are summed (the "sum over all
paths" of the chain rule). Only equations on a path from a differentiated
input get a rule applied; integer and boolean values never carry a
cotangent, and ``stop_gradient`` cuts the path.

Tracing a function that calls ``backward_pass`` gives one program computing
outputs and gradients together; dead-code elimination keeps only the forward
values the backward pass uses. :func:`split_program` cuts such a program into
a forward part (outputs and residuals) and a backward part (residuals and
cotangents in, gradients out), which is what ``funcgrad.vjp`` returns.

The rules live in :data:`vjp_rules`, a table owned by this transformation and
keyed by the primitive object (as in JAX's Autodidax), filled by
:mod:`.rules` (the primitives of :mod:`funcgrad.primitives` but control flow)
and :mod:`.control` (the control-flow primitives). A rule is
``rule(ct, *primals, out, **params) -> tuple`` giving the cotangent of each
input (``None`` for "zero" or "not differentiable"), written with other
primitives so that it can itself be traced and differentiated; for a
``multiple_results`` primitive ``ct`` and ``out`` are lists.

A primitive whose backward pass needs values its forward pass computes
inside (a loop's per-step values, a ``custom_vjp``'s residuals) also has a
forward rule in :data:`vjp_forward_rules`:
``fwd(*primals, **params) -> (out, residuals)`` replaces the plain ``bind``
when the equation is on a differentiated path, and its VJP rule then gets
``residuals=`` as well.
"""
from __future__ import annotations

import numpy as np

from typing import Callable

from ...core.ir import Literal, Program, ShapedArray, Var, dead_code_elimination
from ...core.trace import Primitive, aval_of
from ...errors import FuncgradError, UnsupportedError
from ...primitives import add, broadcast_to
from ...primitives.elementwise import stop_gradient_p

__all__ = ["vjp_rules", "vjp_forward_rules", "backward_pass", "split_program", "InternalError"]

#: The VJP rule of each primitive: ``rule(ct, *primals, out, **params) -> tuple``.
vjp_rules: dict[Primitive, Callable] = {}

#: Forward rules: ``fwd(*primals, **params) -> (out, residuals)`` (see the module docstring).
vjp_forward_rules: dict[Primitive, Callable] = {}


class InternalError(FuncgradError, AssertionError):
    """A VJP rule broke its contract (a bug in funcgrad, not in user code)."""


def _zeros(aval: ShapedArray):
    return broadcast_to(np.zeros((), aval.dtype), aval.shape)


def _at(eqn, rule, /, *args, **kwargs):
    """``rule(*args, **kwargs)``; a FuncgradError it raises (reverse mode through a
    ``while_loop``, a custom rule's bad output) is reported at the user's line
    that made the equation, not at the line that asked for the gradient."""
    try:
        return rule(*args, **kwargs)
    except FuncgradError as e:
        if getattr(e, "at_equation", False) or eqn.source is None:
            raise
        try:
            located = type(e)(e.bare_message, location=eqn.source)
        except TypeError:   # pragma: no cover - a subclass with another signature
            raise e from None
        located.at_equation = True
        raise located from e


def backward_pass(program: Program, primals, wrt, cotangents):
    """Evaluate ``program`` at ``primals`` and pull ``cotangents`` (one per
    output, ``None`` for none) back to the inputs whose indices are in ``wrt``.

    Returns ``(outputs, gradients)``.
    """
    env = {}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    for v, c in zip(program.const_vars, program.consts):
        env[v] = c
    for v, x in zip(program.in_vars, primals):
        env[v] = x

    active = {program.in_vars[i] for i in wrt}
    tape = []
    residuals = {}
    for eqn in program.eqns:
        prim = eqn.primitive
        on_path = prim is not stop_gradient_p and any(
            type(a) is Var and a in active for a in eqn.inputs) and any(
            v.aval.dtype.kind == "f" for v in eqn.outputs)
        fwd = vjp_forward_rules.get(prim) if on_path else None
        if fwd is not None:
            outs, residuals[eqn] = _at(eqn, fwd, *[read(a) for a in eqn.inputs], **eqn.params)
        else:
            outs = prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        outs = outs if prim.multiple_results else [outs]
        for v, o in zip(eqn.outputs, outs):
            env[v] = o
        if on_path:
            active.update(v for v in eqn.outputs if v.aval.dtype.kind == "f")
            tape.append(eqn)

    ct_env: dict[Var, object] = {}

    def accumulate(var, ct):
        if ct is None or type(var) is not Var or var not in active:
            return
        prev = ct_env.get(var)
        ct_env[var] = ct if prev is None else add(prev, ct)

    for atom, ct in zip(program.out_atoms, cotangents):
        accumulate(atom, ct)

    for eqn in reversed(tape):
        cts_out = [ct_env.pop(v, None) for v in eqn.outputs]
        if all(c is None for c in cts_out):
            continue
        prim = eqn.primitive
        rule = vjp_rules.get(prim)
        if rule is None:
            raise UnsupportedError(f"{prim.name}: differentiation is not implemented for this primitive",
                                   location=eqn.source)
        invals = [read(a) for a in eqn.inputs]
        extra = {"residuals": residuals.pop(eqn)} if eqn in residuals else {}
        if prim.multiple_results:
            outvals = [env[v] for v in eqn.outputs]
            cts_out = [c if c is not None else _zeros(v.aval) for c, v in zip(cts_out, eqn.outputs)]
            cts_in = _at(eqn, rule, cts_out, *invals, out=outvals, **extra, **eqn.params)
        else:
            cts_in = _at(eqn, rule, cts_out[0], *invals, out=env[eqn.outputs[0]], **extra, **eqn.params)
        if len(cts_in) != len(invals):
            raise InternalError(f"the VJP rule of {prim.name} returned {len(cts_in)} cotangents "
                                f"for {len(invals)} inputs", location=eqn.source)
        for a, c in zip(eqn.inputs, cts_in):
            if (c is not None and type(a) is Var and a in active
                    and (aval_of(c).shape, aval_of(c).dtype) != (a.aval.shape, a.aval.dtype)):
                raise InternalError(f"the VJP rule of {prim.name} returned a cotangent {aval_of(c)} "
                                    f"for an input {a.aval}", location=eqn.source)
            accumulate(a, c)

    outputs = [read(a) for a in program.out_atoms]
    grads = []
    for i in wrt:
        v = program.in_vars[i]
        g = ct_env.get(v)
        grads.append(g if g is not None else _zeros(v.aval))
    return outputs, grads


def split_program(program: Program, num_known: int):
    """Split ``program`` whose first ``num_known`` inputs are known now and the
    rest later into ``(forward, backward, num_residuals)``:

    - ``forward(*known) -> [*known_outputs, *residuals]``
    - ``backward(*residuals, *unknown) -> [*unknown_outputs]``

    where known outputs are those that depend only on the known inputs, in
    program order; every output is classified by ``known_out`` (returned too).
    """
    unknown = set(program.in_vars[num_known:])
    fwd_eqns, bwd_eqns = [], []
    for eqn in program.eqns:
        if any(type(a) is Var and a in unknown for a in eqn.inputs):
            bwd_eqns.append(eqn)
            unknown.update(eqn.outputs)
        else:
            fwd_eqns.append(eqn)
    known_out = [not (type(a) is Var and a in unknown) for a in program.out_atoms]

    # residuals: known variables the backward part reads, including outputs it returns
    known_defined = set(program.in_vars[:num_known]) | set(program.const_vars)
    for e in fwd_eqns:
        known_defined.update(e.outputs)
    residuals, seen = [], set()
    bwd_outs = [a for a, k in zip(program.out_atoms, known_out) if not k]
    for a in [a for e in bwd_eqns for a in e.inputs] + bwd_outs:
        if type(a) is Var and a in known_defined and a not in seen:
            seen.add(a)
            residuals.append(a)

    fwd_outs = [a for a, k in zip(program.out_atoms, known_out) if k] + residuals
    forward = dead_code_elimination(Program(program.in_vars[:num_known], program.const_vars,
                                            program.consts, fwd_eqns, fwd_outs))
    res_vars = [Var(v.aval) for v in residuals]
    rename = dict(zip(residuals, res_vars))

    def sub(a):
        return rename.get(a, a) if type(a) is Var else a

    from ...core.ir import Eqn

    new_eqns = [Eqn(e.primitive, [sub(a) for a in e.inputs], e.outputs, e.params, e.source)
                for e in bwd_eqns]
    backward = dead_code_elimination(Program(res_vars + program.in_vars[num_known:], [], [],
                                             new_eqns, [sub(a) for a in bwd_outs]))
    return forward, backward, known_out


from . import rules, control, custom, decompositions  # noqa: F401,E402  (register the rules)
