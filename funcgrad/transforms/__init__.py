"""Transformations: Program -> Program."""
from .vjp import backward_pass, split_program, vjp_rules
