"""The transformations' rule tables against the primitive registry.

A primitive defines only its shape rule and NumPy implementation; every
other rule lives in a table owned by the transformation that uses it, keyed
by the primitive (``funcgrad.transforms.vjp.vjp_rules``). These tests check
that every differentiable primitive has a VJP rule, that ``Primitive`` no
longer carries one, and that the primitive modules depend on neither the
transformations nor the backends.
"""
import ast
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import funcgrad  # noqa: F401  (registers the rules)
from funcgrad.core.ir import ShapedArray
from funcgrad.core.trace import Primitive, primitives
from funcgrad.transforms import vjp_rules

PRIMITIVES_DIR = pathlib.Path(funcgrad.__file__).parent / "primitives"

F64, BOOL, U32 = np.dtype(np.float64), np.dtype(bool), np.dtype(np.uint32)
VEC = ShapedArray((3,), F64)

# Primitives that need no VJP rule: no floating-point output for a
# floating-point input (or no operand at all), so the reverse pass never
# applies a rule to them. Each with operands whose output dtype is checked.
NON_DIFFERENTIABLE = {
    **{name: ((VEC, VEC), {}) for name in ("lt", "le", "gt", "ge", "eq", "ne")},
    "is_finite": ((VEC,), {}),
    **{name: ((ShapedArray((3,), BOOL),) * n, {}) for name, n in
       (("not", 1), ("and", 2), ("or", 2), ("xor", 2))},
    "argmax": ((VEC,), dict(axis=0, keepdims=False, index_dtype=np.dtype(np.int64))),
    "argmin": ((VEC,), dict(axis=0, keepdims=False, index_dtype=np.dtype(np.int64))),
    "argsort": ((VEC,), {}),
    "shift_left": ((ShapedArray((3,), U32),) * 2, {}),
    "shift_right_logical": ((ShapedArray((3,), U32),) * 2, {}),
    "threefry2x32": ((ShapedArray((3,), U32),) * 4, {}),
    "iota": None,   # no operands: nothing to differentiate
}


def test_every_differentiable_primitive_has_a_vjp_rule():
    missing = sorted(name for name, p in primitives.items()
                     if p not in vjp_rules and name not in NON_DIFFERENTIABLE)
    assert not missing, f"primitives without an entry in vjp_rules: {missing}"


def test_rule_table_is_keyed_by_registered_primitives():
    registered = set(primitives.values())
    assert all(isinstance(p, Primitive) and p in registered for p in vjp_rules)
    assert all(callable(rule) for rule in vjp_rules.values())


@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
def test_non_differentiable_list_is_accurate(name):
    assert name in primitives, f"{name!r} is listed but is not a primitive"
    probe = NON_DIFFERENTIABLE[name]
    if probe is None:
        return
    avals, params = probe
    out = primitives[name].abstract_eval(*avals, **params)
    for o in out if isinstance(out, list) else [out]:
        assert o.dtype.kind != "f", f"{name} has a floating-point output {o}: it needs a VJP rule"


def test_primitive_carries_no_vjp_rule():
    from funcgrad.primitives.elementwise import sin_p

    assert not hasattr(Primitive, "def_vjp")
    assert not hasattr(Primitive, "vjp")
    assert not hasattr(sin_p, "vjp")
    assert sin_p in vjp_rules


def _imported_modules(path: pathlib.Path):
    """Absolute names of the modules a file of ``funcgrad.primitives`` imports,
    anywhere in it (function-level imports too)."""
    package = ["funcgrad", "primitives"]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            yield mod
            for alias in node.names:   # ``from .. import transforms``
                yield f"{mod}.{alias.name}"


def test_primitives_import_neither_transforms_nor_backends():
    files = sorted(PRIMITIVES_DIR.glob("*.py"))
    assert files
    bad = [(f.name, m) for f in files for m in _imported_modules(f)
           if m.startswith(("funcgrad.transforms", "funcgrad.backends"))]
    assert not bad, f"primitives must not depend on transformations or backends: {bad}"


def test_importing_funcgrad_registers_the_rules():
    code = ("import funcgrad\n"
            "from funcgrad.transforms.vjp import vjp_rules\n"
            "from funcgrad.primitives.elementwise import sin_p\n"
            "from funcgrad.primitives.control import switch_p, scan_p\n"
            "assert sin_p in vjp_rules and switch_p in vjp_rules and scan_p in vjp_rules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
