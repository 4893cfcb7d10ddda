"""Tracing and the IR."""
from .ir import Eqn, Literal, Program, ShapedArray, Var, dead_code_elimination
from .trace import Primitive, Trace, Tracer, aval_of, is_tracer, primitives, trace_flat
