"""Pytrees with JAX's semantics, and gradients in the arguments' structures."""
import collections
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import tree


class Point(NamedTuple):
    x: object
    y: object


Layer = collections.namedtuple("Layer", ["W", "b"])


class Box:
    """A user class registered by hand: children `a`, `b`, static `name`."""

    def __init__(self, a, b, name="box"):
        self.a, self.b, self.name = a, b, name

    def __eq__(self, other):
        return type(other) is Box and self.name == other.name and _tree_equal(
            [self.a, self.b], [other.a, other.b])


tree.register(Box, lambda bx: ((bx.a, bx.b), bx.name), lambda name, ch: Box(ch[0], ch[1], name))


@tree.register_dataclass
@dataclasses.dataclass
class Params:
    W: object
    b: object


@dataclasses.dataclass
class Annotated:
    w: object
    scale: object
    tag: str = "t"


tree.register_dataclass(Annotated, meta_fields=("tag",))


def _tree_equal(a, b):
    la, ta = tree.flatten(a)
    lb, tb = tree.flatten(b)
    return ta == tb and all(np.array_equal(x, y) for x, y in zip(la, lb))


# ----------------------------------------------------------------------------- flatten

def test_leaf_is_its_own_tree():
    leaves, td = tree.flatten(3.0)
    assert leaves == [3.0] and td.num_leaves == 1
    arr = np.arange(3.0)
    leaves, td = tree.flatten(arr)
    assert len(leaves) == 1 and leaves[0] is arr
    assert tree.unflatten(td, ["z"]) == "z"


def test_dict_keys_are_sorted():
    d = {"c": 3, "a": 1, "b": 2}
    assert tree.leaves(d) == [1, 2, 3]
    # insertion order does not change the structure
    assert tree.structure({"b": 0, "a": 0}) == tree.structure({"a": 0, "b": 0})
    out = tree.unflatten(tree.structure(d), [10, 20, 30])
    assert out == {"a": 10, "b": 20, "c": 30}


def test_nested_dict_sorted_at_every_level():
    d = {"z": {"y": 1, "x": 2}, "a": [3, {"q": 5, "p": 4}]}
    assert tree.leaves(d) == [3, 4, 5, 2, 1]


def test_none_is_an_empty_subtree():
    assert tree.leaves(None) == []
    assert tree.structure(None).num_leaves == 0
    assert tree.leaves([None, 1, (None, 2)]) == [1, 2]
    assert tree.leaves({"a": None, "b": 3}) == [3]
    td = tree.structure([None, 1])
    assert tree.unflatten(td, [7]) == [None, 7]
    # None is a node, not a leaf: mapping never calls f on it
    assert tree.map(lambda x: x * 2, {"a": None, "b": 3}) == {"a": None, "b": 6}


def test_list_and_tuple_are_different_structures():
    assert tree.structure([1, 2]) != tree.structure((1, 2))
    assert tree.leaves([1, (2, 3)]) == [1, 2, 3]
    assert tree.structure(()).num_leaves == 0
    assert tree.structure([]).num_leaves == 0
    assert tree.structure([]) != tree.structure(())


def test_namedtuple_is_a_node_distinct_from_tuple():
    p = Point(1, (2, 3))
    leaves, td = tree.flatten(p)
    assert leaves == [1, 2, 3]
    assert td != tree.structure((1, (2, 3)))
    back = tree.unflatten(td, [4, 5, 6])
    assert type(back) is Point and back == Point(4, (5, 6))
    assert type(tree.map(lambda v: v, Layer(1, 2))) is Layer


def test_ordered_dict_keeps_insertion_order():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tree.leaves(od) == [1, 2]
    td = tree.structure(od)
    back = tree.unflatten(td, [5, 6])
    assert type(back) is collections.OrderedDict
    assert list(back.items()) == [("b", 5), ("a", 6)]
    assert td != tree.structure(collections.OrderedDict([("a", 2), ("b", 1)]))
    assert td != tree.structure({"b": 1, "a": 2})


def test_registered_class():
    bx = Box(1, [2, 3], name="n1")
    leaves, td = tree.flatten(bx)
    assert leaves == [1, 2, 3]
    back = tree.unflatten(td, [4, 5, 6])
    assert type(back) is Box and back.name == "n1" and back.a == 4 and back.b == [5, 6]
    # static aux data is part of the structure
    assert td != tree.structure(Box(1, [2, 3], name="n2"))
    assert td == tree.structure(Box(9, [8, 7], name="n1"))


def test_register_twice_is_an_error():
    with pytest.raises(fg.TreeError):
        tree.register(Box, lambda b: ((), None), lambda a, c: Box(None, None))


def test_register_dataclass():
    p = Params(W=np.ones((2, 2)), b=np.zeros(2))
    leaves, td = tree.flatten(p)
    assert len(leaves) == 2 and leaves[0] is p.W and leaves[1] is p.b
    back = tree.unflatten(td, [1, 2])
    assert back == Params(W=1, b=2)


def test_register_dataclass_meta_fields_are_static():
    a = Annotated(w=1.0, scale=2.0, tag="x")
    assert tree.leaves(a) == [1.0, 2.0]
    td = tree.structure(a)
    assert td != tree.structure(Annotated(w=1.0, scale=2.0, tag="y"))
    back = tree.unflatten(td, [3.0, 4.0])
    assert back == Annotated(w=3.0, scale=4.0, tag="x")


def test_register_dataclass_rejects_non_dataclass():
    class NotADataclass:
        pass

    with pytest.raises(fg.TreeError):
        tree.register_dataclass(NotADataclass)


# ----------------------------------------------------------------------------- round trips

ROUND_TRIP_TREES = [
    1.5,
    None,
    [],
    (),
    {},
    [1, 2, 3],
    (1, [2, (3, None)], {"k": 4}),
    {"b": [1, (2, 3)], "a": {"y": None, "x": 5}},
    collections.OrderedDict([("z", 1), ("a", [2, 3])]),
    Point(x=[1, 2], y={"q": 3}),
    [Layer(W=1, b=2), Layer(W=3, b=4)],
    Box(1, (2, None), name="rt"),
    Params(W=[1, 2], b={"c": 3}),
    Annotated(w=(1, 2), scale=3, tag="rt"),
    {"deep": [[[(1,)]]]},
]


@pytest.mark.parametrize("t", ROUND_TRIP_TREES, ids=lambda t: type(t).__name__)
def test_flatten_unflatten_round_trip(t):
    leaves, td = tree.flatten(t)
    back = tree.unflatten(td, leaves)
    assert tree.structure(back) == td
    assert type(back) is type(t)
    assert back == t
    # also with replaced leaves
    new = tree.unflatten(td, list(range(len(leaves))))
    assert tree.leaves(new) == list(range(len(leaves)))
    assert hash(td) == hash(tree.structure(new))


def test_unflatten_wrong_number_of_leaves():
    td = tree.structure({"a": 1, "b": [2, 3]})
    with pytest.raises(fg.TreeError, match="3 leaves"):
        tree.unflatten(td, [1, 2])
    with pytest.raises(fg.TreeError):
        tree.unflatten(td, [1, 2, 3, 4])


def test_unsortable_dict_keys():
    with pytest.raises(fg.TreeError):
        tree.flatten({1: "a", "b": 2})


def test_flatten_with_path():
    t = {"params": [Layer(W=1, b=2)], "a": (3,)}
    pairs, td = tree.flatten_with_path(t)
    assert td == tree.structure(t)
    paths = [tree.keystr(p) for p, _ in pairs]
    leaves = [x for _, x in pairs]
    assert leaves == tree.leaves(t) == [3, 1, 2]
    assert paths == ["['a'][0]", "['params'][0].W", "['params'][0].b"]
    pairs, _ = tree.flatten_with_path(Params(W=1, b=2))
    assert [tree.keystr(p) for p, _ in pairs] == [".W", ".b"]


def test_is_leaf():
    t = {"a": (1, 2), "b": [3, (4, 5)]}
    leaves = tree.leaves(t, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]
    out = tree.map(lambda x: len(x) if isinstance(x, tuple) else x, t,
                   is_leaf=lambda x: isinstance(x, tuple))
    assert out == {"a": 2, "b": [3, 2]}


# ----------------------------------------------------------------------------- map

def test_map_single_tree():
    t = {"b": [1, 2], "a": (3, None)}
    assert tree.map(lambda x: x + 1, t) == {"b": [2, 3], "a": (4, None)}


def test_map_multiple_trees():
    a = {"w": [1, 2], "b": Point(3, 4)}
    b = {"w": [10, 20], "b": Point(30, 40)}
    c = {"w": [100, 200], "b": Point(300, 400)}
    out = tree.map(lambda x, y, z: x + y + z, a, b, c)
    assert out == {"w": [111, 222], "b": Point(333, 444)}
    assert type(out["b"]) is Point


def test_map_with_arrays_sgd_step():
    params = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    grads = {"W": np.full((2, 3), 2.0), "b": np.arange(3.0)}
    new = tree.map(lambda p, g: p - 0.5 * g, params, grads)
    np.testing.assert_array_equal(new["W"], np.zeros((2, 3)))
    np.testing.assert_array_equal(new["b"], -0.5 * np.arange(3.0))


@pytest.mark.parametrize("a,b", [
    ([1, 2], (1, 2)),
    ([1, 2], [1, 2, 3]),
    ({"a": 1}, {"b": 1}),
    ({"a": 1, "b": 2}, {"a": 1}),
    (Point(1, 2), (1, 2)),
    ([1, None], [1, 2]),
    ([1, [2]], [1, 2]),
    (collections.OrderedDict(a=1), {"a": 1}),
    (Box(1, 2, "p"), Box(1, 2, "q")),
])
def test_map_structure_mismatch(a, b):
    with pytest.raises(fg.TreeError, match="differ"):
        tree.map(lambda x, y: x, a, b)


def test_treedef_printable_and_hashable():
    td = tree.structure({"a": [1, (2,)], "b": None})
    s = repr(td)
    assert "PyTreeDef" in s and "'a'" in s and "None" in s
    assert len({td, tree.structure({"b": None, "a": [0, (0,)]})}) == 1


# ----------------------------------------------------------------------------- gradients keep the structure

def test_grad_dict_of_lists_of_tuples():
    rng = np.random.default_rng(0)
    params = {
        "layers": [(rng.normal(size=(3, 2)), rng.normal(size=2)),
                   (rng.normal(size=(2, 1)), rng.normal(size=1))],
        "scale": np.asarray(1.5),
    }

    def loss(p):
        total = 0.0
        for W, b in p["layers"]:
            total = total + np.sum(W ** 2) + np.sum(np.sin(b))
        return total * p["scale"]

    g = fg.grad(loss)(params)
    assert tree.structure(g) == tree.structure(params)
    assert isinstance(g["layers"], list) and isinstance(g["layers"][0], tuple)
    s = params["scale"]
    S = sum(np.sum(W ** 2) + np.sum(np.sin(b)) for W, b in params["layers"])
    for (W, b), (gW, gb) in zip(params["layers"], g["layers"]):
        np.testing.assert_allclose(gW, 2 * W * s, rtol=1e-12)
        np.testing.assert_allclose(gb, np.cos(b) * s, rtol=1e-12)
    np.testing.assert_allclose(g["scale"], S, rtol=1e-12)
    assert g["scale"].shape == ()


def test_grad_namedtuple_params():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([0.1, -0.2])
    x = np.array([0.3, 0.7])

    def loss(layer, x):
        return np.sum(np.tanh(x @ layer.W + layer.b))

    g = fg.grad(loss)(Layer(W, b), x)
    assert type(g) is Layer
    t = 1 - np.tanh(x @ W + b) ** 2
    np.testing.assert_allclose(g.b, t, rtol=1e-12)
    np.testing.assert_allclose(g.W, np.outer(x, t), rtol=1e-12)


def test_grad_typing_namedtuple_and_ordered_dict():
    p = collections.OrderedDict([("second", Point(np.asarray(2.0), np.asarray(3.0))),
                                 ("first", np.asarray(5.0))])

    def loss(p):
        return p["first"] * p["second"].x ** 2 + p["second"].y

    g = fg.grad(loss)(p)
    assert type(g) is collections.OrderedDict and list(g) == ["second", "first"]
    assert type(g["second"]) is Point
    np.testing.assert_allclose(g["first"], 4.0)
    np.testing.assert_allclose(g["second"].x, 2 * 5.0 * 2.0)
    np.testing.assert_allclose(g["second"].y, 1.0)


def test_grad_dataclass_params():
    p = Params(W=np.array([[1.0, 2.0, 3.0]]), b=np.array([0.5]))
    x = np.array([[1.0], [2.0]])

    def loss(p, x):
        return np.sum((x @ p.W) ** 2) + np.sum(p.b ** 3)

    g = fg.grad(loss)(p, x)
    assert type(g) is Params
    # d/dW sum((x W)^2) = 2 x^T (x W)
    np.testing.assert_allclose(g.W, 2 * x.T @ (x @ p.W), rtol=1e-12)
    np.testing.assert_allclose(g.b, 3 * p.b ** 2, rtol=1e-12)


def test_grad_dataclass_meta_fields_and_registered_class():
    a = Annotated(w=np.array([1.0, 2.0]), scale=np.asarray(3.0), tag="keep")
    bx = Box(np.asarray(2.0), [np.asarray(-1.0)], name="bx")

    def loss(a, bx):
        return np.sum(a.w * a.scale) + bx.a * bx.b[0]

    ga, gbx = fg.grad(loss, argnums=(0, 1))(a, bx)
    assert type(ga) is Annotated and ga.tag == "keep"
    np.testing.assert_allclose(ga.w, [3.0, 3.0])
    np.testing.assert_allclose(ga.scale, 3.0)
    assert type(gbx) is Box and gbx.name == "bx"
    np.testing.assert_allclose(gbx.a, -1.0)
    np.testing.assert_allclose(gbx.b[0], 2.0)


def test_grad_with_none_in_params():
    p = {"w": np.array([1.0, 2.0]), "unused": None, "pair": (None, np.asarray(4.0))}
    g = fg.grad(lambda p: np.sum(p["w"] ** 2) * p["pair"][1])(p)
    assert g["unused"] is None and g["pair"][0] is None
    np.testing.assert_allclose(g["w"], 2 * p["w"] * 4.0)
    np.testing.assert_allclose(g["pair"][1], 5.0)


def test_value_and_grad_pytree_output_aux_keeps_structure():
    p = {"a": np.asarray(2.0), "b": [np.asarray(3.0)]}

    def f(p):
        return p["a"] * p["b"][0], {"stats": Point(p["a"] + 1, [p["b"][0] * 2])}

    (val, aux), g = fg.value_and_grad(f, has_aux=True)(p)
    np.testing.assert_allclose(val, 6.0)
    assert type(aux["stats"]) is Point
    np.testing.assert_allclose(aux["stats"].x, 3.0)
    np.testing.assert_allclose(aux["stats"].y[0], 6.0)
    np.testing.assert_allclose(g["a"], 3.0)
    np.testing.assert_allclose(g["b"][0], 2.0)


def test_grad_retraces_for_a_new_structure():
    f = lambda p: sum(np.sum(v ** 2) for v in tree.leaves(p))  # noqa: E731
    g1 = fg.grad(f)({"a": np.array([1.0, 2.0])})
    g2 = fg.grad(f)({"a": np.array([1.0, 2.0]), "b": np.array([3.0])})
    assert list(g1) == ["a"] and list(g2) == ["a", "b"]
    np.testing.assert_allclose(g2["b"], [6.0])


def test_specialised_flattener_and_unflattener_agree_with_flatten():
    import collections
    import dataclasses

    P = collections.namedtuple("P", "a b")

    @tree.register_dataclass
    @dataclasses.dataclass
    class Layer:
        w: object
        b: object

    value = ({"W": np.ones(2), "layers": [Layer(np.zeros(1), 1.5), None]}, P(np.arange(3), (2.0,)))
    leaves, td = tree.flatten(value)
    flat = tree.flattener(td)
    assert [id(x) for x in flat(value)] == [id(x) for x in leaves]
    rebuilt = tree.unflattener(td)(leaves)
    assert tree.structure(rebuilt) == td
    # another structure: the specialised flattener declines instead of guessing
    assert flat(({"W": np.ones(2), "layers": [None, None]}, P(np.arange(3), (2.0,)))) is None
    assert flat(({"W": np.ones(2), "extra": 1, "layers": [Layer(0, 1), None]}, P(1, (2.0,)))) is None
    assert flat(({"W": [1.0], "layers": [Layer(0, 1), None]}, P(1, (2.0,)))) is None
