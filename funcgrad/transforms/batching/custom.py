"""Batching rules of the call primitives (:mod:`funcgrad.primitives.calls`),
registered in :data:`funcgrad.transforms.batching.batch_rules`.

A batched call is a call of the batched program (``batch_program`` traced
into a closed Program, batched operands with their batch dimension first):

- ``checkpoint``: a ``checkpoint`` of the batched body (outputs batched at 0
  where the body batches them).
- ``custom_jvp_call`` / ``custom_vjp_call``: a call of the batched program
  (every output batched at 0) whose ``rule`` is the user's rule run through
  ``batch_program`` (:class:`BatchedJVPRule`, :class:`BatchedVJPRule`), so that
  the batched function keeps its custom derivatives under a later
  ``jvp``/``grad``. The per-example rule is traced on one example's shapes and
  batched; batched residuals and tangents have their batch dimension first.
  The cotangent of an unbatched argument is the sum over the batch of the
  per-example cotangents.
"""
from __future__ import annotations

from ...core.ir import Program, ShapedArray
from ...core.trace import aval_of, trace_flat
from ...primitives.calls import checkpoint_p, custom_jvp_call_p, custom_vjp_call_p
from ...primitives.reduction import reduce_sum
from . import batch_program, batch_rules, move_to, moveaxis

__all__ = ["BatchedJVPRule", "BatchedVJPRule"]


def _norm(x, d):
    return None if d is None else d % aval_of(x).ndim


def _front(x, d):
    return x if d is None else moveaxis(x, d, 0)


def _unbatched_aval(x, d) -> ShapedArray:
    a = aval_of(x)
    shape = a.shape[1:] if d is not None else a.shape
    return ShapedArray(shape, a.dtype)


def _closed(fun, in_avals):
    p = trace_flat(fun, in_avals)
    return Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms), list(p.consts)


def _batched(fun_flat, args, dims, axis_size):
    """``fun_flat`` (a function of one example's flat values, returning a
    list) applied to the batch ``args`` (batch dimensions ``dims``, 0 or
    None): traced on one example and batched; every output batched at 0."""
    program = trace_flat(lambda *xs: list(fun_flat(*xs)),
                         [_unbatched_aval(x, d) for x, d in zip(args, dims)])
    outs, out_dims = batch_program(program, list(args), list(dims), axis_size)
    return [move_to(o, d, 0, axis_size) for o, d in zip(outs, out_dims)]


class _BatchedRule:
    """A custom rule applied to a batch: ``base`` (the per-example rule), the
    batch dimensions of the call's non-constant operands (0 or None), and the
    batch size. Compared and hashed by value; its ``repr`` is ``vmap(base)``."""

    def __init__(self, base, dims, axis_size):
        self.base = base
        self.dims = tuple(dims)
        self.axis_size = int(axis_size)
        self._key = (type(self), base, self.dims, self.axis_size)
        self._hash = hash(self._key)

    kind = property(lambda self: self.base.kind)
    name = property(lambda self: self.base.name)

    def __eq__(self, other):
        return type(other) is type(self) and other._key == self._key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"vmap({self.base!r})"


class BatchedJVPRule(_BatchedRule):
    def jvp_flat(self, primals, tangents):
        n = len(primals)
        base = self.base

        def per_example(*xs):
            outs, touts = base.jvp_flat(list(xs[:n]), list(xs[n:]))
            box["tan"] = [t is not None for t in touts]
            return list(outs) + [t for t in touts if t is not None]

        box = {}
        res = _batched(per_example, list(primals) + list(tangents), self.dims + self.dims, self.axis_size)
        n_out = len(res) - sum(box["tan"])
        outs, t_iter = res[:n_out], iter(res[n_out:])
        return outs, [next(t_iter) if h else None for h in box["tan"]]


class BatchedVJPRule(_BatchedRule):
    def fwd_flat(self, primals):
        base = self.base
        box = {}

        def per_example(*xs):
            outs, res_leaves, res_tree = base.fwd_flat(list(xs))
            box["n"], box["tree"] = len(outs), res_tree
            return list(outs) + list(res_leaves)

        res = _batched(per_example, list(primals), self.dims, self.axis_size)
        return res[:box["n"]], res[box["n"]:], box["tree"]

    def bwd_flat(self, res_leaves, res_tree, cts):
        base = self.base
        n_res = len(res_leaves)
        box = {}

        def per_example(*xs):
            x_cts = base.bwd_flat(list(xs[:n_res]), res_tree, list(xs[n_res:]))
            box["has"] = [c is not None for c in x_cts]
            return [c for c in x_cts if c is not None]

        args = list(res_leaves) + list(cts)
        program = trace_flat(per_example, [_unbatched_aval(x, 0) for x in args])
        outs, out_dims = batch_program(program, args, [0] * len(args), self.axis_size)
        it = iter(zip(outs, out_dims))
        result = []
        for h, d_in in zip(box["has"], self.dims):
            if not h:
                result.append(None)
                continue
            o, d = next(it)
            if d_in is None:   # an argument shared by the batch: the sum of its cotangents
                result.append(o if d is None else reduce_sum(o, axes=(d,), keepdims=False))
            else:
                result.append(move_to(o, d, 0, self.axis_size))
        return result


def _call_batch(prim, rule_cls):
    def rule(axis_size, args, dims, *, call, num_consts, rule):
        dims = [_norm(a, d) for a, d in zip(args, dims)]
        args = [_front(a, d) for a, d in zip(args, dims)]
        dims = [None if d is None else 0 for d in dims]
        in_avals = [ShapedArray(aval_of(a).shape, aval_of(a).dtype) for a in args]

        def f(*xs):
            outs, out_dims = batch_program(call, list(xs), dims, axis_size)
            return [move_to(o, d, 0, axis_size) for o, d in zip(outs, out_dims)]

        new_call, extra = _closed(f, in_avals)
        new_rule = rule_cls(rule, dims[num_consts:], axis_size)
        outs = prim.bind(*extra, *args, call=new_call, num_consts=len(extra) + num_consts, rule=new_rule)
        return list(outs), [0] * len(outs)
    return rule


batch_rules[custom_jvp_call_p] = _call_batch(custom_jvp_call_p, BatchedJVPRule)
batch_rules[custom_vjp_call_p] = _call_batch(custom_vjp_call_p, BatchedVJPRule)


def _checkpoint_batch(axis_size, args, dims, *, body):
    dims = [_norm(a, d) for a, d in zip(args, dims)]
    args = [_front(a, d) for a, d in zip(args, dims)]
    dims = [None if d is None else 0 for d in dims]
    box = {}

    def f(*xs):
        outs, out_dims = batch_program(body, list(xs), dims, axis_size)
        box["b"] = [d is not None for d in out_dims]
        return [o if d is None else moveaxis(o, d, 0) for o, d in zip(outs, out_dims)]

    program, extra = _closed(f, [ShapedArray(aval_of(a).shape, aval_of(a).dtype) for a in args])
    outs = checkpoint_p.bind(*extra, *args, body=program)
    return list(outs), [0 if b else None for b in box["b"]]


batch_rules[checkpoint_p] = _checkpoint_batch
