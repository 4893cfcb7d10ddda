"""Dead-code elimination, bodies of control flow included.

An equation stays when an output of the program (or of a later equation
that stays) reads one of its outputs, or when it has an effect (in it or in
one of its bodies). Unused captured constants go; a program's inputs stay,
used or not (they are its signature).

Control flow loses its unused parts, as JAX's DCE of ``scan`` does:

- ``scan``: a ``ys`` output nobody reads goes, from the equation and from
  the body's outputs. A carry goes when its final value is unread and no kept
  body output depends on its body input: the carries needed are found by a
  fixed point (those read after the loop, then those whose body input a
  needed body output, a needed carry's included, reads through the body's
  data flow). A removed carry leaves the operands, the body's inputs and its
  outputs. Then the consts and xs the pruned body no longer reads go with
  their operands (``num_consts`` and ``num_carry`` follow).
- ``fori_loop``: the same for carries and consts; the bounds and the index
  input stay.
- ``while_loop``: the carries the condition reads are needed (and what they
  depend on); otherwise as ``fori_loop``; unread condition and body consts go.
- ``switch``: outputs nobody reads go from every branch, operands no branch
  reads go (the index stays).

An equation with an effect is never removed, and what its effects read
stays (effects inside a body are roots of the body's liveness); an equation
with no live output and no effect goes whole. Bodies are pruned recursively
(nested loops lose their dead parts too); the bodies of other equations
(calls: ``custom_jvp_call``, ``custom_vjp_call``, ``checkpoint``) keep their
signatures and lose their dead equations. The pass is pure: new Programs and
Eqns, the input untouched; one body shared by several equations pruned the
same way stays one shared body (a memo by body and by what is kept).
"""
from __future__ import annotations

from ..core.ir import Eqn, Program, Var
from ..primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p
from ._util import has_effect, map_subprograms

__all__ = ["dce"]


def dce(program: Program) -> Program:
    """``program`` without its dead equations (a new Program)."""
    memo = _Memo()
    out, _ = _walk(program, (True,) * len(program.out_atoms), memo)
    if out is program:   # nothing to remove: still a new Program (passes return new ones)
        out = Program(program.in_vars, program.const_vars, program.consts, program.eqns, program.out_atoms)
    return out


class _Memo:
    """``calls``: id -> (body, result) for :func:`map_subprograms` (the
    bodies of call equations, kept whole); ``pruned``: (id, kept outputs) ->
    (program, (result, inputs read)); ``bodies``: (id, kept inputs, kept
    outputs) -> (program, pruned body) so that a shared body pruned alike
    stays one object."""

    def __init__(self):
        self.calls = {}
        self.pruned = {}
        self.bodies = {}


def _walk(program: Program, live_out, memo: _Memo):
    """``program`` keeping the outputs where ``live_out`` is True, without
    the equations none of them needs (control flow pruned), and a tuple of
    bools: which of its inputs (``in_vars``) it reads. Memoized; the same
    Program when nothing changes."""
    key = (id(program), live_out)
    hit = memo.pruned.get(key)
    if hit is not None and hit[0] is program:
        return hit[1]
    outs = [a for a, keep in zip(program.out_atoms, live_out) if keep]
    live = {a for a in outs if type(a) is Var}
    kept = []
    for eqn in reversed(program.eqns):
        out_live = tuple(o in live for o in eqn.outputs)
        if not any(out_live) and not has_effect(eqn):
            continue
        new = _rewrite(eqn, out_live, memo)
        kept.append(new)
        live.update(a for a in new.inputs if type(a) is Var)
    kept.reverse()
    const_vars, consts = [], []
    for v, c in zip(program.const_vars, program.consts):
        if v in live:
            const_vars.append(v)
            consts.append(c)
    used = tuple(v in live for v in program.in_vars)
    if (len(kept) == len(program.eqns) and all(a is b for a, b in zip(kept, program.eqns))
            and len(outs) == len(program.out_atoms) and len(const_vars) == len(program.const_vars)):
        result = (program, used)
    else:
        result = (Program(program.in_vars, const_vars, consts, kept, outs), used)
    memo.pruned[key] = (program, result)
    return result


def _body(program: Program, keep_in, live_out, memo: _Memo) -> Program:
    """The body ``program`` pruned to the outputs ``live_out``, taking only
    the inputs ``keep_in`` (all of those it reads among them)."""
    key = (id(program), keep_in, live_out)
    hit = memo.bodies.get(key)
    if hit is not None and hit[0] is program:
        return hit[1]
    pruned, used = _walk(program, live_out, memo)
    assert all(k or not u for k, u in zip(keep_in, used)), "a body input it reads is removed"
    if all(keep_in):
        out = pruned
    else:
        out = Program([v for v, k in zip(program.in_vars, keep_in) if k], pruned.const_vars, pruned.consts,
                      pruned.eqns, pruned.out_atoms)
    memo.bodies[key] = (program, out)
    return out


def _rewrite(eqn: Eqn, out_live, memo: _Memo) -> Eqn:
    """A kept equation: control flow pruned to what the live outputs
    ``out_live`` (and its effects) need, other equations' bodies DCE'd."""
    rule = _rules.get(eqn.primitive)
    if rule is not None:
        return rule(eqn, out_live, memo)
    return map_subprograms(eqn, lambda p: _walk(p, (True,) * len(p.out_atoms), memo)[0], memo.calls)


def _carry_fixed_point(body, needed, carry_in_at, other_out, memo):
    """The carries needed (a list of bools): ``needed`` to start with, grown
    by those whose body input (``carry_in_at + k``) the needed outputs read.
    ``other_out``: the mask of the body's outputs after its carries. Returns
    (needed, the body's outputs kept, the inputs it reads)."""
    needed = list(needed)
    while True:
        live_out = tuple(needed) + tuple(other_out)
        _, used = _walk(body, live_out, memo)
        grown = False
        for k in range(len(needed)):
            if not needed[k] and used[carry_in_at + k]:
                needed[k] = grown = True
        if not grown:
            return needed, live_out, used


def _same(eqn, inputs, outputs):
    return len(inputs) == len(eqn.inputs) and len(outputs) == len(eqn.outputs)


def _scan(eqn: Eqn, out_live, memo: _Memo) -> Eqn:
    p = eqn.params
    body, nc, ncar = p["body"], p["num_consts"], p["num_carry"]
    nx = len(eqn.inputs) - nc - ncar
    needed, live_out, used = _carry_fixed_point(body, out_live[:ncar], nc, out_live[ncar:], memo)
    keep_in = tuple(used[:nc]) + tuple(needed) + tuple(used[nc + ncar:])
    assert len(keep_in) == nc + ncar + nx
    new_body = _body(body, keep_in, live_out, memo)
    inputs = [a for a, k in zip(eqn.inputs, keep_in) if k]
    outputs = [o for o, k in zip(eqn.outputs, live_out) if k]
    if _same(eqn, inputs, outputs) and new_body is body:
        return eqn
    params = dict(p, body=new_body, num_consts=sum(keep_in[:nc]), num_carry=sum(needed))
    return Eqn(eqn.primitive, inputs, outputs, params, eqn.source)


def _fori_loop(eqn: Eqn, out_live, memo: _Memo) -> Eqn:
    p = eqn.params
    body, nc = p["body"], p["num_consts"]
    needed, live_out, used = _carry_fixed_point(body, out_live, nc + 1, (), memo)
    keep_in = tuple(used[:nc]) + (True,) + tuple(needed)   # the index stays
    new_body = _body(body, keep_in, live_out, memo)
    keep_ops = (True, True) + keep_in[:nc] + tuple(needed)   # the bounds stay
    inputs = [a for a, k in zip(eqn.inputs, keep_ops) if k]
    outputs = [o for o, k in zip(eqn.outputs, needed) if k]
    if _same(eqn, inputs, outputs) and new_body is body:
        return eqn
    params = dict(p, body=new_body, num_consts=sum(keep_in[:nc]))
    return Eqn(eqn.primitive, inputs, outputs, params, eqn.source)


def _while_loop(eqn: Eqn, out_live, memo: _Memo) -> Eqn:
    p = eqn.params
    cond, body = p["cond"], p["body"]
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    n = len(eqn.outputs)
    _, cond_used = _walk(cond, (True,), memo)
    start = [bool(live) or cond_used[ncc + k] for k, live in enumerate(out_live)]
    needed, live_out, used = _carry_fixed_point(body, start, nbc, (), memo)
    cond_keep = tuple(cond_used[:ncc]) + tuple(needed)
    body_keep = tuple(used[:nbc]) + tuple(needed)
    new_cond = _body(cond, cond_keep, (True,), memo)
    new_body = _body(body, body_keep, live_out, memo)
    keep_ops = cond_keep[:ncc] + body_keep[:nbc] + tuple(needed)
    assert len(keep_ops) == ncc + nbc + n
    inputs = [a for a, k in zip(eqn.inputs, keep_ops) if k]
    outputs = [o for o, k in zip(eqn.outputs, needed) if k]
    if _same(eqn, inputs, outputs) and new_body is body and new_cond is cond:
        return eqn
    params = dict(p, cond=new_cond, body=new_body, cond_nconsts=sum(cond_keep[:ncc]),
                  body_nconsts=sum(body_keep[:nbc]))
    return Eqn(eqn.primitive, inputs, outputs, params, eqn.source)


def _switch(eqn: Eqn, out_live, memo: _Memo) -> Eqn:
    branches = eqn.params["branches"]
    n_ops = len(eqn.inputs) - 1
    read = [False] * n_ops
    for br in branches:
        _, used = _walk(br, out_live, memo)
        read = [a or b for a, b in zip(read, used)]
    keep_in = tuple(read)
    new_branches = tuple(_body(br, keep_in, out_live, memo) for br in branches)
    inputs = [eqn.inputs[0]] + [a for a, k in zip(eqn.inputs[1:], keep_in) if k]   # the index stays
    outputs = [o for o, k in zip(eqn.outputs, out_live) if k]
    if _same(eqn, inputs, outputs) and all(a is b for a, b in zip(new_branches, branches)):
        return eqn
    return Eqn(eqn.primitive, inputs, outputs, dict(eqn.params, branches=new_branches), eqn.source)


_rules = {scan_p: _scan, fori_loop_p: _fori_loop, while_loop_p: _while_loop, switch_p: _switch}
