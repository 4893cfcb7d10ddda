"""funcgrad's primitives: one module per family, each primitive's shape/dtype
rule and NumPy implementation defined together. The rules of
transformations live in tables those own, keyed by the primitive: the VJP
rules in :data:`funcgrad.transforms.vjp.vjp_rules` (filled by
``funcgrad/transforms/vjp/rules.py`` and ``control.py``).

The functions here are the low-level operations (in the manner of
``jax.lax``): operands already promoted to one dtype, static parameters
explicit. ``funcgrad.numpy`` builds NumPy's API on top of them.
"""
from .elementwise import (abs_, acos, add, asin, atan, atan2, broadcast_like, ceil, convert_element_type,
                          cos, cosh, div, eq, exp, expm1, floor, floordiv, ge, gt, integer_pow, isfinite,
                          le, log, log1p, logical_and, logical_not, logical_or, logical_xor, logistic, lt,
                          max_, min_, mul, ne, neg, pow_, rem, round_, select, sign, sin, sinh, sqrt,
                          stop_gradient, sub, tan, tanh, unbroadcast)
from .indexing import scatter_add, take
from .linalg import matmul
from .reduction import argmax, argmin, reduce_max, reduce_min, reduce_prod, reduce_sum
from .shape import broadcast_to, concatenate, iota, pad, pad_add, reshape, rev, slice_, transpose
from .bitwise import shift_left, shift_right_logical
from .random import threefry2x32
from .sort import argsort
from . import calls  # noqa: F401,E402  (custom_jvp_call, custom_vjp_call, checkpoint)
