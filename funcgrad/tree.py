"""Pytrees: nested containers of arrays, with JAX's semantics.

A pytree is a leaf (anything not registered as a container) or a registered
container of pytrees. Built in: ``tuple``, ``list``, ``dict`` (keys sorted),
``None`` (a container with no children), namedtuples, and
``collections.OrderedDict`` (keys kept in insertion order). User classes are
added with :func:`register` or :func:`register_dataclass`.

``flatten`` returns the leaves in a fixed order and a hashable
:class:`PyTreeDef` that ``unflatten`` turns back into the structure. The
treedef is what compiled functions use as part of their cache key, so it is
cheap to hash and compare.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, Callable, NamedTuple

from .errors import TreeError

__all__ = ["PyTreeDef", "register", "register_dataclass", "flatten", "unflatten",
           "leaves", "structure", "map", "flatten_with_path", "keystr", "all_equal"]


class _NodeKind(NamedTuple):
    flatten: Callable      # node -> (children, aux_data)
    unflatten: Callable    # (aux_data, children) -> node
    keys: Callable | None  # (node, aux_data) -> list of path entries


_registry: dict[type, _NodeKind] = {}
_leaf_types: set = set()   # types seen to be leaves (registering a type removes it)


def register(cls: type, flatten_fn: Callable, unflatten_fn: Callable, keys_fn: Callable | None = None):
    """Register ``cls`` as a pytree node.

    ``flatten_fn(node) -> (children, aux_data)``: children is a sequence of
    subtrees, aux_data any hashable static data.
    ``unflatten_fn(aux_data, children) -> node`` rebuilds it.
    Returns ``cls`` so it can be used from a decorator.
    """
    if cls in _registry:
        raise TreeError(f"tree.register: {cls.__qualname__} is already registered as a pytree node")
    _registry[cls] = _NodeKind(flatten_fn, unflatten_fn, keys_fn)
    _leaf_types.discard(cls)
    return cls


def register_dataclass(cls=None, *, data_fields=None, meta_fields=()):
    """Register a dataclass as a pytree node (usable as a decorator).

    ``data_fields`` (default: every field not in ``meta_fields``) are children;
    ``meta_fields`` are static, hashable aux data.
    """
    def wrap(cls):
        if not dataclasses.is_dataclass(cls):
            raise TreeError(f"tree.register_dataclass: {cls.__qualname__} is not a dataclass")
        meta = tuple(meta_fields)
        data = tuple(data_fields) if data_fields is not None else tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in meta)

        def flatten_fn(obj):
            return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

        def unflatten_fn(aux, children):
            return cls(**dict(zip(data, children)), **dict(zip(meta, aux)))

        return register(cls, flatten_fn, unflatten_fn, lambda node, aux: [f".{n}" for n in data])

    return wrap if cls is None else wrap(cls)


def _is_namedtuple_class(cls) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and cls is not tuple


register(tuple, lambda t: (t, None), lambda _, c: tuple(c),
         lambda node, aux: [f"[{i}]" for i in range(len(node))])
register(list, lambda l: (l, None), lambda _, c: list(c),
         lambda node, aux: [f"[{i}]" for i in range(len(node))])


def _dict_flatten(d):
    try:
        keys = tuple(sorted(d))
    except TypeError as e:
        raise TreeError(f"tree: dict keys must be sortable to flatten a dict, got {list(d)!r}") from e
    return [d[k] for k in keys], keys


register(dict, _dict_flatten, lambda keys, c: dict(zip(keys, c)),
         lambda node, keys: [f"[{k!r}]" for k in keys])
register(collections.OrderedDict,
         lambda d: (list(d.values()), tuple(d.keys())),
         lambda keys, c: collections.OrderedDict(zip(keys, c)),
         lambda node, keys: [f"[{k!r}]" for k in keys])
register(type(None), lambda n: ((), None), lambda _, c: None, lambda node, aux: [])


class PyTreeDef:
    """The structure of a pytree: hashable, comparable, printable.

    Treedefs are interned: one object per distinct structure, so comparing
    and hashing them (the cache key of every compiled call) is by identity.
    Build them with :func:`_node`, never directly.
    """

    __slots__ = ("node_type", "aux", "children", "num_leaves", "__weakref__")

    def __init__(self, node_type, aux, children):
        self.node_type = node_type          # None for a leaf
        self.aux = aux
        self.children = children            # tuple of PyTreeDef
        self.num_leaves = 1 if node_type is None else sum(c.num_leaves for c in children)

    def __reduce__(self):
        return _node, (self.node_type, self.aux, self.children)

    def __repr__(self):
        return f"PyTreeDef({self._str()})"

    def _str(self):
        if self.node_type is None:
            return "*"
        kids = ", ".join(c._str() for c in self.children)
        t = self.node_type
        if t is tuple:
            return f"({kids}{',' if len(self.children) == 1 else ''})"
        if t is list:
            return f"[{kids}]"
        if t is dict:
            return "{" + ", ".join(f"{k!r}: {c._str()}" for k, c in zip(self.aux, self.children)) + "}"
        if t is type(None):
            return "None"
        return f"{t.__name__}({kids})"

    def unflatten(self, leaves):
        return unflatten(self, leaves)


_interned: dict = {}


def _node(node_type, aux, children) -> PyTreeDef:
    key = (node_type, aux, children)
    try:
        td = _interned.get(key)
    except TypeError:
        raise TreeError(f"tree: the aux data of a {node_type.__name__} node must be hashable, "
                        f"got {aux!r:.80}") from None
    if td is None:
        td = _interned[key] = PyTreeDef(node_type, aux, children)
    return td


_LEAF = PyTreeDef(None, None, ())


def _node_kind(obj):
    t = type(obj)
    kind = _registry.get(t)
    if kind is None and _is_namedtuple_class(t):
        kind = _NodeKind(lambda n: (tuple(n), None), lambda _, c, _t=t: _t(*c),
                         lambda node, aux: [f".{f}" for f in node._fields])
        _registry[t] = kind
    return kind


_sorted_keys: dict = {}


def _flatten(obj, out, is_leaf):
    # leaves, dict, list and tuple inline: this runs on every compiled call
    t = type(obj)
    if is_leaf is not None and is_leaf(obj):
        out.append(obj)
        return _LEAF
    if t in _leaf_types:
        out.append(obj)
        return _LEAF
    if t is dict:
        raw = tuple(obj)
        keys = _sorted_keys.get(raw)
        if keys is None:
            keys = _dict_flatten(obj)[1]
            if len(_sorted_keys) < 4096:
                _sorted_keys[raw] = keys
        return _node(dict, keys, _children([obj[k] for k in keys], out, is_leaf))
    if t is tuple or t is list:
        return _node(t, None, _children(obj, out, is_leaf))
    kind = _node_kind(obj)
    if kind is None:
        _leaf_types.add(t)
        out.append(obj)
        return _LEAF
    children, aux = kind.flatten(obj)
    return _node(t, aux, _children(children, out, is_leaf))


def _children(children, out, is_leaf):
    defs = []
    for c in children:
        if is_leaf is None and type(c) in _leaf_types:
            out.append(c)
            defs.append(_LEAF)
        else:
            defs.append(_flatten(c, out, is_leaf))
    return tuple(defs)


def flatten(tree, is_leaf: Callable[[Any], bool] | None = None):
    """Return ``(leaves, treedef)``."""
    leaves_out: list = []
    treedef = _flatten(tree, leaves_out, is_leaf)
    return leaves_out, treedef


def leaves(tree, is_leaf=None) -> list:
    return flatten(tree, is_leaf)[0]


def structure(tree, is_leaf=None) -> PyTreeDef:
    return flatten(tree, is_leaf)[1]


def unflatten(treedef: PyTreeDef, leaves_in):
    leaves_in = list(leaves_in)
    if len(leaves_in) != treedef.num_leaves:
        raise TreeError(f"tree.unflatten: the structure {treedef} has {treedef.num_leaves} leaves, "
                        f"got {len(leaves_in)}")
    it = iter(leaves_in)
    return _build(treedef, it)


def _build(td: PyTreeDef, it):
    if td.node_type is None:
        return next(it)
    kind = _registry[td.node_type]
    return kind.unflatten(td.aux, [_build(c, it) for c in td.children])


def flatten_with_path(tree, is_leaf=None):
    """Return ``([(path, leaf), ...], treedef)``; a path is a tuple of strings
    such as ``("['W1']", "[0]")``; :func:`keystr` joins it."""
    out = []

    def walk(obj, path):
        if is_leaf is not None and is_leaf(obj):
            out.append((path, obj))
            return
        kind = _node_kind(obj)
        if kind is None:
            out.append((path, obj))
            return
        children, aux = kind.flatten(obj)
        keys = kind.keys(obj, aux) if kind.keys else [f"[{i}]" for i in range(len(children))]
        for k, c in zip(keys, children):
            walk(c, path + (k,))

    walk(tree, ())
    return out, structure(tree, is_leaf)


def keystr(path) -> str:
    return "".join(path)


def map(f: Callable, tree, *rest, is_leaf=None):
    """Apply ``f`` to the leaves of ``tree`` (and the matching leaves of
    ``rest``, which must have the same structure)."""
    flat, td = flatten(tree, is_leaf)
    others = []
    for r in rest:
        rflat, rtd = flatten(r, is_leaf)
        if rtd != td:
            raise TreeError(f"tree.map: structures differ: {td} and {rtd}")
        others.append(rflat)
    return unflatten(td, [f(*xs) for xs in zip(flat, *others)])


def all_equal(a, b) -> bool:
    return structure(a) == structure(b)


def assert_same_structure(a, b, what: str = "trees"):
    """Raise :class:`TreeError` naming the first pytree path where ``a`` and
    ``b`` differ."""
    pa, ta = flatten_with_path(a)
    pb, tb = flatten_with_path(b)
    if ta == tb:
        return
    paths_a = [keystr(p) for p, _ in pa]
    paths_b = [keystr(p) for p, _ in pb]
    for x, y in zip(paths_a, paths_b):
        if x != y:
            raise TreeError(f"{what}: structures differ at {x or '<root>'} vs {y or '<root>'}: {ta} and {tb}")
    raise TreeError(f"{what}: structures differ ({len(paths_a)} vs {len(paths_b)} leaves): {ta} and {tb}")


# ----------------------------------------------------------------------------- specialised code

def _gen_flatten(td: PyTreeDef, expr: str, lines: list, leaves: list, counter: list, env: dict):
    """Append checks that the value of ``expr`` has structure ``td``; collect
    leaf expressions."""
    if td.node_type is None:
        name = f"v{counter[0]}"
        counter[0] += 1
        lines.append(f"{name} = {expr}")
        lines.append(f"if type({name}) not in LEAF_TYPES: return None")
        leaves.append(name)
        return
    name = f"n{counter[0]}"
    counter[0] += 1
    lines.append(f"{name} = {expr}")
    t = td.node_type
    tname = f"T{len(env)}"
    env[tname] = t
    n = len(td.children)
    if t is dict:
        lines.append(f"if type({name}) is not dict or len({name}) != {n}: return None")
        for key, child in zip(td.aux, td.children):
            _gen_flatten(child, f"{name}[{key!r}]", lines, leaves, counter, env)
    elif t is tuple or t is list or _is_namedtuple_class(t):
        lines.append(f"if type({name}) is not {tname} or len({name}) != {n}: return None")
        for i, child in enumerate(td.children):
            _gen_flatten(child, f"{name}[{i}]", lines, leaves, counter, env)
    elif t is type(None):
        lines.append(f"if {name} is not None: return None")
    else:  # a registered class: its own flatten function, and its aux data must match
        fl, aux = f"F{len(env)}", f"A{len(env)}"
        env[fl] = _registry[t].flatten
        env[aux] = td.aux
        kids = f"k{counter[0]}"
        counter[0] += 1
        lines.append(f"if type({name}) is not {tname}: return None")
        lines.append(f"{kids}, aux_ = {fl}({name})")
        lines.append(f"if aux_ != {aux} or len({kids}) != {n}: return None")
        for i, child in enumerate(td.children):
            _gen_flatten(child, f"{kids}[{i}]", lines, leaves, counter, env)


def flattener(td: PyTreeDef):
    """A function ``tree -> leaves`` specialised to the structure ``td``: it
    returns None when ``tree`` has another structure (or a leaf that is a
    container). Straight-line code, several times faster than :func:`flatten`;
    compiled calls use it for the structure they saw last."""
    lines, leaves, env = [], [], {"LEAF_TYPES": _leaf_types}
    try:
        _gen_flatten(td, "tree", lines, leaves, [0], env)
    except KeyError:
        return None
    body = "\n    ".join(lines + [f"return [{', '.join(leaves)}]"])
    src = f"def flatten_{id(td)}(tree):\n    try:\n        {body.replace(chr(10) + '    ', chr(10) + '        ')}\n    except (KeyError, IndexError, TypeError):\n        return None\n"
    exec(compile(src, f"<funcgrad.tree flattener {td}>", "exec"), env)
    return env[f"flatten_{id(td)}"]


def unflattener(td: PyTreeDef):
    """A function ``leaves -> tree`` specialised to ``td`` (the inverse of
    :func:`flattener`)."""
    env: dict = {}
    counter = [0]

    def build(t: PyTreeDef) -> str:
        if t.node_type is None:
            i = counter[0]
            counter[0] += 1
            return f"leaves[{i}]"
        kids = [build(c) for c in t.children]
        if t.node_type is dict:
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(t.aux, kids)) + "}"
        if t.node_type is tuple:
            return "(" + ", ".join(kids) + ("," if len(kids) == 1 else "") + ")"
        if t.node_type is list:
            return "[" + ", ".join(kids) + "]"
        if t.node_type is type(None):
            return "None"
        name = f"U{len(env)}"
        aux = f"A{len(env)}"
        env[name] = _registry[t.node_type].unflatten if t.node_type in _registry else None
        env[aux] = t.aux
        if env[name] is None:  # namedtuple registered lazily
            _node_kind(t.node_type.__new__(t.node_type, *([None] * len(kids))))
            env[name] = _registry[t.node_type].unflatten
        return f"{name}({aux}, [{', '.join(kids)}])"

    expr = build(td)
    src = f"def unflatten_{id(td)}(leaves):\n    return {expr}\n"
    exec(compile(src, f"<funcgrad.tree unflattener {td}>", "exec"), env)
    return env[f"unflatten_{id(td)}"]
