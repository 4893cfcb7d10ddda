"""funcgrad.optim: each update rule against its formula written out in NumPy."""
import math

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import optim

RNG = np.random.default_rng(0)
SHAPES = {"W": (3, 2), "b": (2,)}
N_STEPS = 5


def _params(dtype=np.float64):
    return {k: RNG.normal(size=s).astype(dtype) for k, s in SHAPES.items()}


def _grad_seq(dtype=np.float64, n=N_STEPS):
    return [{k: RNG.normal(size=s).astype(dtype) for k, s in SHAPES.items()} for _ in range(n)]


def _run(tx, params, grads_seq):
    state = optim.train_state_init(tx, params)
    for g in grads_seq:
        state = optim.train_state_step(tx, state, g)
    return state


def _reference(params, grads_seq, rule):
    """Apply ``rule(w, g, mem, t) -> w`` leaf by leaf (t = 1, 2...); mem a dict per leaf."""
    out = {}
    for k, w in params.items():
        w = w.copy()
        mem = {}
        for t, g in enumerate(grads_seq, start=1):
            w = rule(w, g[k], mem, t)
        out[k] = w
    return out


def _close(state, ref, rtol=1e-12, atol=1e-12):
    for k in ref:
        np.testing.assert_allclose(state.params[k], ref[k], rtol=rtol, atol=atol)


def test_sgd():
    p, gs = _params(), _grad_seq()
    ref = _reference(p, gs, lambda w, g, m, t: w - 0.1 * g)
    _close(_run(optim.sgd(0.1), p, gs), ref)


def test_momentum():
    p, gs, eta, gamma = _params(), _grad_seq(), 0.05, 0.9

    def rule(w, g, m, t):
        m["v"] = gamma * m.get("v", 0.0) + g           # v_{t+1} = gamma v_t + g
        return w - eta * m["v"]                         # w_{t+1} = w_t - eta v_{t+1}

    _close(_run(optim.sgd(eta, momentum=gamma), p, gs), _reference(p, gs, rule))


def test_nesterov():
    p, gs, eta, gamma = _params(), _grad_seq(), 0.05, 0.9

    def rule(w, g, m, t):
        m["v"] = gamma * m.get("v", 0.0) + g
        return w - eta * (g + gamma * m["v"])           # Sutskever / PyTorch form of the notes' rule

    _close(_run(optim.sgd(eta, momentum=gamma, nesterov=True), p, gs), _reference(p, gs, rule))
    # with gamma = 0, Nesterov momentum is plain SGD
    _close(_run(optim.sgd(eta, momentum=0.0, nesterov=True), p, gs),
           _reference(p, gs, lambda w, g, m, t: w - eta * g))


def test_rmsprop():
    p, gs, eta, alpha, eps = _params(), _grad_seq(), 0.01, 0.9, 1e-8

    def rule(w, g, m, t):
        m["v"] = alpha * m.get("v", 0.0) + (1 - alpha) * g ** 2
        return w - eta / (np.sqrt(m["v"]) + eps) * g

    _close(_run(optim.rmsprop(eta, decay=alpha, eps=eps), p, gs), _reference(p, gs, rule))


def test_adagrad():
    p, gs, eta, eps = _params(), _grad_seq(), 0.1, 1e-10

    def rule(w, g, m, t):
        m["s"] = m.get("s", 0.0) + g ** 2
        return w - eta / (np.sqrt(m["s"]) + eps) * g

    _close(_run(optim.adagrad(eta, eps=eps), p, gs), _reference(p, gs, rule))


def _adam_rule(eta, b1, b2, eps, wd=0.0):
    def rule(w, g, m, t):
        m["m"] = b1 * m.get("m", 0.0) + (1 - b1) * g
        m["v"] = b2 * m.get("v", 0.0) + (1 - b2) * g ** 2
        m_hat = m["m"] / (1 - b1 ** t)
        v_hat = m["v"] / (1 - b2 ** t)
        return (1 - eta * wd) * w - eta * m_hat / (np.sqrt(v_hat) + eps)
    return rule


def test_adam_bias_correction():
    p, gs = _params(), _grad_seq()
    ref = _reference(p, gs, _adam_rule(0.01, 0.9, 0.999, 1e-8))
    _close(_run(optim.adam(0.01), p, gs), ref)
    # first step: bias-corrected Adam moves every weight by about eta * sign(g)
    one = _run(optim.adam(0.01, eps=0.0), p, gs[:1])
    for k in p:
        np.testing.assert_allclose(one.params[k], p[k] - 0.01 * np.sign(gs[0][k]), rtol=1e-12)


def test_adamw_decoupled_weight_decay():
    p, gs = _params(), _grad_seq()
    ref = _reference(p, gs, _adam_rule(0.01, 0.8, 0.99, 1e-6, wd=0.1))
    _close(_run(optim.adamw(0.01, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1), p, gs), ref)


def test_weight_decay_with_sgd_matches_notes():
    # w <- (1 - eta alpha) w - eta g
    p, gs, eta, alpha = _params(), _grad_seq(), 0.1, 0.01
    tx = optim.chain(optim.add_decayed_weights(alpha), optim.sgd(eta))
    _close(_run(tx, p, gs), _reference(p, gs, lambda w, g, m, t: (1 - eta * alpha) * w - eta * g))


def test_clip_by_value():
    g = {"a": np.array([-3.0, -0.5, 0.2, 4.0]), "b": np.array(2.5)}
    u, _ = optim.clip(1.0).update(g, optim.EmptyState())
    np.testing.assert_array_equal(u["a"], [-1.0, -0.5, 0.2, 1.0])
    np.testing.assert_array_equal(u["b"], 1.0)


def test_clip_by_global_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}     # global norm 5
    tx = optim.clip_by_global_norm(2.0)
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u["a"], [3.0 * 2 / 5, 0.0])
    np.testing.assert_allclose(u["b"], [[4.0 * 2 / 5]])
    np.testing.assert_allclose(float(optim.global_norm(u)), 2.0)
    # below the threshold: unchanged
    u, _ = optim.clip_by_global_norm(10.0).update(g, optim.EmptyState())
    np.testing.assert_array_equal(u["a"], g["a"])
    np.testing.assert_array_equal(u["b"], g["b"])


def test_clip_then_sgd_over_steps():
    p, gs, eta, c = _params(), _grad_seq(), 0.1, 0.5
    tx = optim.chain(optim.clip(c), optim.sgd(eta))
    _close(_run(tx, p, gs), _reference(p, gs, lambda w, g, m, t: w - eta * np.clip(g, -c, c)))


def test_schedules_match_formulas():
    steps = np.arange(0, 30)
    cases = [
        (optim.constant_schedule(0.3), lambda t: 0.3),
        (optim.step_decay(1.0, 0.5, 10), lambda t: 1.0 * 0.5 ** math.floor(t / 10)),
        (optim.exponential_decay(0.1, 0.9, 4), lambda t: 0.1 * 0.9 ** (t / 4)),
        (optim.cosine_decay(0.2, 20, alpha=0.1),
         lambda t: 0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 20) / 20)) + 0.1)),
        (optim.warmup(0.0, 1.0, 5), lambda t: min(t, 5) / 5),
        (optim.warmup(0.0, 1.0, 5, then=optim.exponential_decay(1.0, 0.5, 2)),
         lambda t: t / 5 if t < 5 else 0.5 ** ((t - 5) / 2)),
    ]
    for sched, formula in cases:
        for t in steps:
            np.testing.assert_allclose(float(sched(np.int32(t))), formula(int(t)), rtol=1e-12)


def test_schedule_under_jit_and_as_learning_rate():
    sched = optim.warmup(0.0, 0.1, 3, then=optim.cosine_decay(0.1, 10))
    jitted = fg.jit(sched, backend="interpret")
    for t in range(15):
        np.testing.assert_allclose(jitted(np.int32(t)), sched(t), rtol=1e-12)
    # schedule evaluated at the number of updates done before each step (0, 1, 2...)
    p, gs = _params(), _grad_seq()
    ref = _reference(p, gs, lambda w, g, m, t: w - float(sched(t - 1)) * g)
    _close(_run(optim.sgd(sched), p, gs), ref)


@pytest.mark.parametrize("make", [
    lambda: optim.sgd(0.1), lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
    lambda: optim.rmsprop(0.01), lambda: optim.adagrad(0.1), lambda: optim.adam(0.01),
    lambda: optim.adamw(0.01, weight_decay=0.1),
    lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.clip(0.5),
                        optim.adam(optim.exponential_decay(0.01, 0.9, 2))),
])
def test_float32_stays_float32(make):
    tx = make()
    p, gs = _params(np.float32), _grad_seq(np.float32, 3)
    state = _run(tx, p, gs)
    for leaf in fg.tree.leaves(state.params):
        assert leaf.dtype == np.float32
    updates, _ = tx.update(gs[0], state.opt_state, state.params)
    for leaf in fg.tree.leaves(updates):
        assert leaf.dtype == np.float32
    for path, leaf in fg.tree.flatten_with_path(state.opt_state)[0]:
        if np.ndim(leaf) > 0:                      # moments (counts are int32 scalars)
            assert leaf.dtype == np.float32, fg.tree.keystr(path)


def test_structure_mismatch_names_path():
    tx = optim.adam(0.01)
    p = _params()
    state = optim.train_state_init(tx, p)
    bad = {"W": p["W"], "c": p["b"]}
    with pytest.raises(fg.TreeError, match=r"\['b'\]|\['c'\]"):
        optim.train_state_step(tx, state, bad)
    with pytest.raises(fg.TreeError, match=r"\['b'\]|\['c'\]"):
        tx.update(bad, state.opt_state)
    with pytest.raises(fg.TreeError):
        optim.apply_updates(p, {"W": p["W"]})


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "adamw"])
@pytest.mark.parametrize("lr", [-0.1, float("nan")])
def test_bad_learning_rate(name, lr):
    with pytest.raises(fg.InputError, match=rf"optim\.{name}.*learning_rate.*{lr}"):
        getattr(optim, name)(lr)


def test_bad_hyperparameters():
    with pytest.raises(fg.InputError, match="b1"):
        optim.adam(0.1, b1=1.0)
    with pytest.raises(fg.InputError, match="max_norm"):
        optim.clip_by_global_norm(0.0)
    with pytest.raises(fg.InputError, match="params"):
        optim.add_decayed_weights(0.1).update({"a": np.ones(2)}, optim.EmptyState())


def test_jit_train_step_least_squares():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4))
    w_true = rng.normal(size=(4,))
    y = x @ w_true + 0.5
    params = {"w": np.zeros(4), "b": np.zeros(())}
    tx = optim.chain(optim.clip_by_global_norm(10.0), optim.adam(0.05))

    def loss(params, x, y):
        r = x @ params["w"] + params["b"] - y
        return fnp.mean(r * r)

    @fg.jit(backend="interpret")
    def train_step(state, x, y):
        value, grads = fg.value_and_grad(loss)(state.params, x, y)
        return optim.train_state_step(tx, state, grads), value

    state = optim.train_state_init(tx, params)
    state, first = train_step(state, x, y)
    for _ in range(99):
        state, last = train_step(state, x, y)
    assert int(state.step) == 100
    assert float(last) < 0.1 * float(first)
    # the compiled step agrees with the eager one
    eager = optim.train_state_init(tx, params)
    for _ in range(3):
        eager = optim.train_state_step(tx, eager, fg.grad(loss)(eager.params, x, y))
    jitted = optim.train_state_init(tx, params)
    for _ in range(3):
        jitted, _ = train_step(jitted, x, y)
    for a, b in zip(fg.tree.leaves(eager), fg.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
