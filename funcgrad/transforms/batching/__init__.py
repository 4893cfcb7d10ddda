"""Vectorization: a Program applied to a batch of inputs at once, as one Program.

:func:`batch_program` is an interpreter: it walks the program's equations
and, for each, applies the primitive's batching rule to the (batched) values
and their batch dimensions. Under a trace (``funcgrad.vmap`` traces it), it
records one program over whole batches: ``matmul`` of a batch of vectors is
one matrix product, a loop over a batch is one loop over batched carries.

A batch dimension is an int (the axis of the value that runs over the batch)
or ``None`` (:data:`not_mapped`: the same value for every batch element). An
equation none of whose inputs is batched is bound as it is.

Rules live in :data:`batch_rules`, keyed by the primitive object::

    rule(axis_size, args, dims, **params) -> (out, out_dim)

``args`` are the batched values, ``dims`` their batch dimensions (at least
one is not ``None``); a rule returns the output and its batch dimension (for
a primitive with ``multiple_results``, lists of both). Rules are written
with primitives, so batched programs can be transformed again.
"""
from __future__ import annotations

from ...core.ir import Literal, Program
from ...core.trace import aval_of
from ...errors import FuncgradError, UnsupportedError

__all__ = ["batch_rules", "batch_program", "not_mapped", "moveaxis", "to_front", "BatchError"]

not_mapped = None

batch_rules: dict = {}


class BatchError(FuncgradError, ValueError):
    """Batch sizes of vmap's arguments disagree, or an axis is out of range."""


class InternalError(FuncgradError, AssertionError):
    """A batching rule broke its contract (a bug in funcgrad, not in user code)."""


def moveaxis(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to position ``dst`` (a transpose)."""
    from ...primitives import transpose

    ndim = aval_of(x).ndim
    src, dst = src % ndim, dst % ndim
    if src == dst:
        return x
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def to_front(x, dim, axis_size: int):
    """``x`` with its batch dimension first; an unbatched value is broadcast to the batch."""
    from ...primitives import broadcast_to

    if dim is None:
        shape = aval_of(x).shape
        return broadcast_to(x, (axis_size,) + tuple(shape))
    return moveaxis(x, dim, 0)


def move_to(x, dim, target, axis_size: int):
    """``x`` with its batch dimension at ``target`` (broadcast first if unbatched)."""
    x = to_front(x, dim, axis_size)
    return moveaxis(x, 0, target) if target != 0 else x


def batch_program(program: Program, args, dims, axis_size: int):
    """Evaluate ``program`` on batched ``args`` (batch dimensions ``dims``,
    ``None`` for an argument shared by the whole batch). Returns
    ``(outputs, output_dims)``."""
    env, bdim = {}, {}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    def read_dim(a):
        return None if type(a) is Literal else bdim.get(a)

    for v, c in zip(program.const_vars, program.consts):
        env[v] = c
    for v, x, d in zip(program.in_vars, args, dims):
        env[v] = x
        if d is not None:
            bdim[v] = d % aval_of(x).ndim

    for eqn in program.eqns:
        prim = eqn.primitive
        invals = [read(a) for a in eqn.inputs]
        indims = [read_dim(a) for a in eqn.inputs]
        if all(d is None for d in indims):
            outs = prim.bind(*invals, **eqn.params)
            outs = outs if prim.multiple_results else [outs]
            out_dims = [None] * len(outs)
        else:
            rule = batch_rules.get(prim)
            if rule is None:
                raise UnsupportedError(f"{prim.name}: vmap (batching) is not implemented for this "
                                       "primitive", location=eqn.source)
            outs, out_dims = rule(axis_size, invals, indims, **eqn.params)
            if not prim.multiple_results:
                outs, out_dims = [outs], [out_dims]
            _check(prim, eqn, outs, out_dims, axis_size)
        for v, o, d in zip(eqn.outputs, outs, out_dims):
            env[v] = o
            if d is not None:
                bdim[v] = d
    return [read(a) for a in program.out_atoms], [read_dim(a) for a in program.out_atoms]


def _check(prim, eqn, outs, out_dims, axis_size):
    if len(outs) != len(eqn.outputs) or len(out_dims) != len(eqn.outputs):
        raise InternalError(f"the batching rule of {prim.name} returned {len(outs)} outputs for "
                            f"{len(eqn.outputs)}", location=eqn.source)
    for v, o, d in zip(eqn.outputs, outs, out_dims):
        a = aval_of(o)
        if d is None:
            want = v.aval.shape
        else:
            want = v.aval.shape[:d] + (axis_size,) + v.aval.shape[d:]
        if a.shape != tuple(want) or a.dtype != v.aval.dtype:
            raise InternalError(f"the batching rule of {prim.name} returned {a} (batch dimension {d}) "
                                f"for an output {v.aval} of a batch of {axis_size}", location=eqn.source)


# the rules register themselves in batch_rules
from . import rules, control, custom, decompositions  # noqa: E402,F401
