"""Tracing and the IR."""
from .evaluate import eval_program
from .ir import Eqn, Literal, Program, ShapedArray, Var, dead_code_elimination, subprograms
from .trace import Primitive, Trace, Tracer, aval_of, is_tracer, primitives, trace_flat
