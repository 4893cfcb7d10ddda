"""Call primitives: a closed sub-program applied to operands.

==================  ===============================  ==========================================
primitive           operands                         parameters
==================  ===============================  ==========================================
``custom_jvp_call`` ``*consts, *args``               ``call`` (the function's program),
                                                     ``num_consts``, ``rule`` (the user's JVP)
``custom_vjp_call`` ``*consts, *args``               ``call``, ``num_consts``, ``rule``
                                                     (the user's fwd and bwd)
``checkpoint``      ``*operands``                    ``body``
==================  ===============================  ==========================================

Each evaluates its program on its operands (``call(*consts, *args)``,
``body(*operands)``); what makes them different is how the transformations
treat them: the custom-derivative calls use the user's rules instead of
differentiating ``call`` (:mod:`funcgrad.custom_derivatives`), and
``checkpoint``'s reverse mode recomputes ``body`` in the backward pass instead
of storing its intermediates (``jax.checkpoint``). The rules are in
``funcgrad/transforms/{vjp,jvp,batching}/custom.py``.

The program is *closed* (no captured constants), like a loop body: what the
user's function closed over is passed as the leading ``num_consts``
operands. ``rule`` is a plain Python object with value-based ``__eq__`` and
``__hash__`` (so that a program traced again on the next call hits the
program cache) and a short ``repr`` for the IR printout.

The backends never see these equations: :func:`funcgrad.passes.inline_calls`
replaces each by its program's equations, after the pass pipeline (which
optimizes each program on its own, so ``checkpoint``'s recomputation is not
merged back into the forward pass by CSE).
"""
from __future__ import annotations

from ..core.evaluate import eval_program
from ..core.ir import Program, ShapedArray
from ..core.trace import Primitive
from ..errors import DtypeError, ShapeError

__all__ = ["custom_jvp_call_p", "custom_vjp_call_p", "checkpoint_p", "CALL_BODY", "call_body",
           "is_call"]


def _check_operands(name: str, program: Program, avals):
    want = program.in_avals
    if len(avals) != len(want):
        raise ShapeError(f"{name}: {len(avals)} operands for a program of {len(want)} inputs")
    for k, (got, w) in enumerate(zip(avals, want)):
        if got.shape != w.shape:
            raise ShapeError(f"{name}: operand {k} is {got} but the program's input {k} is {w}")
        if got.dtype != w.dtype:
            raise DtypeError(f"{name}: operand {k} is {got} but the program's input {k} is {w}")


def _out_avals(program: Program):
    return [ShapedArray(a.shape, a.dtype, a.weak_type) for a in program.out_avals]


def _define(name: str, body_param: str, extra=()):
    prim = Primitive(name, multiple_results=True)

    def abstract_eval(*avals, **params):
        program = params[body_param]
        if not isinstance(program, Program):
            raise DtypeError(f"{name}: the {body_param!r} parameter must be a Program, "
                             f"got {type(program).__name__}")
        if program.const_vars:
            raise DtypeError(f"{name}: the program must be closed (its constants passed as operands)")
        _check_operands(name, program, list(avals))
        return _out_avals(program)

    def impl(*args, **params):
        return eval_program(params[body_param], list(args))

    prim.def_abstract_eval(abstract_eval)
    prim.def_impl(impl)
    return prim


#: ``custom_jvp_call[call, num_consts, rule](*consts, *args)``
custom_jvp_call_p = _define("custom_jvp_call", "call")
#: ``custom_vjp_call[call, num_consts, rule](*consts, *args)``
custom_vjp_call_p = _define("custom_vjp_call", "call")
#: ``checkpoint[body](*operands)``
checkpoint_p = _define("checkpoint", "body")

#: The call primitives, and the parameter holding each one's program.
CALL_BODY = {custom_jvp_call_p: "call", custom_vjp_call_p: "call", checkpoint_p: "body"}


def is_call(eqn) -> bool:
    """Whether ``eqn`` applies a call primitive."""
    return eqn.primitive in CALL_BODY


def call_body(eqn) -> Program:
    """The program a call equation applies."""
    return eqn.params[CALL_BODY[eqn.primitive]]
