"""funcgrad.data: epochs, iterations and minibatches (lecture 003), the
traceable shuffle used inside compiled epochs, and dataset validation."""
import numpy as np
import pytest

import funcgrad as fg
from funcgrad import data

N = 37


def dataset(n=N):
    x = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    y = np.arange(n, dtype=np.int64) % 10
    return x, y


@pytest.mark.parametrize("n,b,expected", [
    (1000, 1000, 1),    # batch gradient descent: one iteration per epoch
    (1000, 1, 1000),    # stochastic gradient descent: N
    (1000, 50, 20),     # mini-batch: N / B
])
def test_iterations_per_epoch_follow_the_lecture_table(n, b, expected):
    assert data.iterations_per_epoch(n, b) == expected


def test_iterations_per_epoch_with_a_remainder():
    assert data.iterations_per_epoch(10, 3) == 3
    assert data.iterations_per_epoch(10, 3, drop_remainder=False) == 4


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "8"])
def test_bad_batch_size_is_refused(bad):
    with pytest.raises(fg.InputError, match="batch_size"):
        data.iterations_per_epoch(10, bad)


def test_batch_larger_than_the_dataset():
    with pytest.raises(fg.InputError, match="larger than the 10 samples"):
        data.iterations_per_epoch(10, 11)


def check_epoch(batches, x, y, b):
    xb, yb = batches
    steps = N // b
    assert xb.shape == (steps, b, 3) and yb.shape == (steps, b)
    assert xb.dtype == x.dtype and yb.dtype == y.dtype
    rows = xb.reshape(-1, 3)[:, 0].astype(np.int64) // 3         # sample index of every row
    assert len(set(rows.tolist())) == steps * b                   # no sample twice in an epoch
    np.testing.assert_array_equal(xb.reshape(-1, 3), x[rows])     # x and y stay paired
    np.testing.assert_array_equal(yb.reshape(-1), y[rows])
    return rows


@pytest.mark.parametrize("backend", ["interpret", "numba"])
def test_shuffled_batches_inside_jit(backend):
    x, y = dataset()
    f = fg.jit(lambda k, x, y: data.shuffled_batches(k, (x, y), 5), backend=backend)
    r0 = check_epoch(f(fg.random.key(0), x, y), x, y, 5)
    r0_again = check_epoch(f(fg.random.key(0), x, y), x, y, 5)
    r1 = check_epoch(f(fg.random.key(1), x, y), x, y, 5)
    np.testing.assert_array_equal(r0, r0_again)                   # same key, same order
    assert not np.array_equal(r0, r1)                             # a new key shuffles anew
    assert not np.array_equal(r0, np.arange(len(r0)))             # it is shuffled at all


def test_shuffled_batches_same_order_on_both_backends():
    x, y = dataset()
    key = fg.random.key(7)
    ref = data.shuffled_batches(key, (x, y), 4)
    out = fg.jit(lambda k, x, y: data.shuffled_batches(k, (x, y), 4), backend="numba")(key, x, y)
    for a, b in zip(out, ref):
        np.testing.assert_array_equal(a, b)


def test_shuffle_visits_every_position_uniformly():
    # over many epochs each sample lands in each batch about equally often
    x, y = dataset(20)
    counts = np.zeros((20, 4))
    f = fg.jit(lambda k, x: data.shuffled_batches(k, x, 5), backend="numba")
    epochs = 400
    for k in fg.random.split(fg.random.key(3), epochs):
        xb = np.asarray(f(k, x))
        for batch in range(4):
            counts[xb[batch, :, 0].astype(int) // 3, batch] += 1
    expected = epochs * 5 / 20
    sd = np.sqrt(epochs * 0.25 * 0.75)
    assert np.abs(counts - expected).max() < 5 * sd


def test_a_compiled_epoch_scans_the_shuffled_batches():
    # one compiled call: shuffle, then a step per batch; compare with a NumPy loop
    x, y = dataset()
    key = fg.random.key(11)

    def epoch(total, key, x):
        batches = data.shuffled_batches(key, x, 6)
        return fg.scan(lambda c, xb: (c + xb.sum(), xb[:, 0].max()), total, batches)

    total, maxima = fg.jit(epoch, backend="numba")(np.float64(0.0), key, x)
    order = np.asarray(fg.random.permutation(key, N))[:N // 6 * 6]
    ref_batches = x[order].reshape(N // 6, 6, 3)
    np.testing.assert_allclose(total, ref_batches.sum())
    np.testing.assert_array_equal(maxima, ref_batches[:, :, 0].max(axis=1))


def test_shuffled_batches_errors():
    x, y = dataset()
    with pytest.raises(fg.ShapeError, match="same leading"):
        data.shuffled_batches(fg.random.key(0), (x, y[:-1]), 4)
    with pytest.raises(fg.InputError, match="larger than"):
        data.shuffled_batches(fg.random.key(0), (x, y), 100)


def test_minibatches_cover_an_epoch():
    x, y = dataset()
    batches = list(data.minibatches((x, y), 8, seed=0))
    assert [len(b[1]) for b in batches] == [8, 8, 8, 8, 5]
    seen = np.concatenate([b[0][:, 0] for b in batches]).astype(int) // 3
    assert sorted(seen.tolist()) == list(range(N))
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, y[xb[:, 0].astype(int) // 3])
    dropped = list(data.minibatches((x, y), 8, seed=0, drop_remainder=True))
    assert len(dropped) == data.iterations_per_epoch(N, 8) == 4
    ordered = list(data.minibatches({"x": x}, 10, shuffle=False))
    np.testing.assert_array_equal(ordered[0]["x"], x[:10])


def test_minibatches_shuffle_differs_per_seed_and_keeps_the_input():
    x, y = dataset()
    x0 = x.copy()
    def first(seed):
        return next(data.minibatches((x, y), 8, seed=seed))[0]
    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))
    np.testing.assert_array_equal(x, x0)


def test_minibatches_refuse_traced_data():
    def f(x):
        next(data.minibatches(x, 2))
        return x
    with pytest.raises(fg.InputError, match="shuffled_batches"):
        fg.jit(f, backend="interpret")(np.ones((4, 2)))


def test_check_classification_data_accepts_good_data():
    x, y = dataset()
    x2, y2 = data.check_classification_data(x, y, 10)
    assert x2 is not None and y2.shape == (N,)


@pytest.mark.parametrize("x,labels,error,match", [
    (np.zeros((4, 2)), np.array([0, 1, 10, 2]), fg.InputError, r"outside \[0, 10\): labels\[2\] = 10"),
    (np.zeros((4, 2)), np.array([0, -1, 3, 2]), fg.InputError, r"labels\[1\] = -1"),
    (np.zeros((4, 2)), np.array([0, 1, 2]), fg.ShapeError, r"shape \(N,\) with N = 4"),
    (np.zeros((4, 2)), np.zeros((4, 1), np.int64), fg.ShapeError, r"got labels of shape \(4, 1\)"),
    (np.zeros((4, 2)), np.array([0.0, 1.0, 2.0, 3.0]), fg.InputError, "must be integers"),
    (np.zeros((4, 2), np.int64), np.array([0, 1, 2, 3]), fg.InputError, "floating-point"),
    (np.array([[0.0, 1.0], [np.nan, 0.0], [0.0, 0.0], [0.0, 0.0]]), np.array([0, 1, 2, 3]),
     fg.InputError, "NaN or inf .first in sample 1"),
])
def test_check_classification_data_errors(x, labels, error, match):
    with pytest.raises(error, match=match):
        data.check_classification_data(x, labels, 10, name="training set")
