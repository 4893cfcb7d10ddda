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


def test_nesterov_as_in_the_notes():
    # lecture 001: v_{t+1} = gamma v_t + g,  w_{t+1} = w_t - eta (g + v_{t+1})
    p, gs, eta, gamma = _params(), _grad_seq(), 0.05, 0.9

    def rule(w, g, m, t):
        m["v"] = gamma * m.get("v", 0.0) + g
        return w - eta * (g + m["v"])

    _close(_run(optim.sgd(eta, momentum=gamma, nesterov=True), p, gs), _reference(p, gs, rule))
    _close(_run(optim.sgd(eta, momentum=gamma, nesterov=True, nesterov_form="notes"), p, gs),
           _reference(p, gs, rule))


def test_nesterov_sutskever_form():
    p, gs, eta, gamma = _params(), _grad_seq(), 0.05, 0.9

    def rule(w, g, m, t):
        m["v"] = gamma * m.get("v", 0.0) + g
        return w - eta * (g + gamma * m["v"])           # Sutskever et al. 2013 / PyTorch / Optax

    tx = optim.sgd(eta, momentum=gamma, nesterov=True, nesterov_form="sutskever")
    _close(_run(tx, p, gs), _reference(p, gs, rule))
    # with gamma = 0, this form is plain SGD
    _close(_run(optim.sgd(eta, momentum=0.0, nesterov=True, nesterov_form="sutskever"), p, gs),
           _reference(p, gs, lambda w, g, m, t: w - eta * g))
    with pytest.raises(fg.InputError, match="nesterov_form"):
        optim.sgd(eta, momentum=gamma, nesterov=True, nesterov_form="pytorch")


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


def test_l2_weight_decay_option_matches_notes():
    # lecture 001: grad of J + alpha/2 ||w||^2 is g + alpha w, so w <- (1 - eta alpha) w - eta g
    p, gs, eta, alpha = _params(), _grad_seq(), 0.1, 0.01
    _close(_run(optim.sgd(eta, weight_decay=alpha), p, gs),
           _reference(p, gs, lambda w, g, m, t: (1 - eta * alpha) * w - eta * g))


def test_l2_weight_decay_with_momentum_and_adaptive_rules():
    p, gs, eta, gamma, alpha = _params(), _grad_seq(), 0.05, 0.9, 0.1

    def momentum(w, g, m, t):
        m["v"] = gamma * m.get("v", 0.0) + (g + alpha * w)
        return w - eta * m["v"]

    _close(_run(optim.sgd(eta, momentum=gamma, weight_decay=alpha), p, gs), _reference(p, gs, momentum))

    def rms(w, g, m, t):
        g = g + alpha * w
        m["v"] = 0.9 * m.get("v", 0.0) + 0.1 * g ** 2
        return w - eta / (np.sqrt(m["v"]) + 1e-8) * g

    _close(_run(optim.rmsprop(eta, weight_decay=alpha), p, gs), _reference(p, gs, rms))

    def ada(w, g, m, t):
        g = g + alpha * w
        m["s"] = m.get("s", 0.0) + g ** 2
        return w - eta / (np.sqrt(m["s"]) + 1e-10) * g

    _close(_run(optim.adagrad(eta, weight_decay=alpha), p, gs), _reference(p, gs, ada))

    def adam_l2(w, g, m, t):           # L2: the decay goes through the moments (unlike AdamW)
        g = g + alpha * w
        m["m"] = 0.9 * m.get("m", 0.0) + 0.1 * g
        m["v"] = 0.999 * m.get("v", 0.0) + 0.001 * g ** 2
        return w - eta * (m["m"] / (1 - 0.9 ** t)) / (np.sqrt(m["v"] / (1 - 0.999 ** t)) + 1e-8)

    _close(_run(optim.adam(eta, weight_decay=alpha), p, gs), _reference(p, gs, adam_l2))
    with pytest.raises(fg.InputError, match=r"optim\.adam: weight_decay must be a finite number >= 0, got -0\.1"):
        optim.adam(eta, weight_decay=-0.1)


def test_adagrad_initial_accumulator():
    p, gs, eta, s0 = _params(), _grad_seq(), 0.1, 0.1

    def rule(w, g, m, t):
        m["s"] = m.get("s", s0) + g ** 2
        return w - eta / np.sqrt(m["s"]) * g

    _close(_run(optim.adagrad(eta, eps=0.0, initial_accumulator_value=s0), p, gs), _reference(p, gs, rule))


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
    lambda: optim.sgd(0.1, momentum=0.9, weight_decay=0.01), lambda: optim.adagrad(0.1, initial_accumulator_value=0.1),
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


def _adam_state():
    tx = optim.adam(0.01)
    p = _params()
    return tx, p, tx.init_state(p)


@pytest.mark.parametrize("grads_of, message", [
    (lambda p: {"W": p["W"]}, r"\['b'\] is in {ref} but not in grads"),
    (lambda p: {**p, "c": p["b"]}, r"\['c'\] is in grads but not in {ref}"),
    (lambda p: {"W": {"x": p["W"]}, "b": p["b"]},
     r"at \['W'\]: a dict in grads, an array float64\[3, 2\] in {ref}"),
    (lambda p: {"W": p["W"], "b": None}, r"at \['b'\]: None in grads, an array float64\[2\] in {ref}"),
    (lambda p: [p["W"], p["b"]], r"at the root: a list in grads, a dict in {ref}"),
])
def test_structure_mismatch_names_path(grads_of, message):
    tx, p, state = _adam_state()
    bad = grads_of(p)
    with pytest.raises(fg.TreeError, match=r"optim\.adam\.step: .*" + message.format(ref="params")):
        tx.step(state, bad)
    with pytest.raises(fg.TreeError, match=r"optim\.adam: .*" + message.format(ref="params")):  # Optax's API
        tx.update(bad, state.opt_state, p)
    with pytest.raises(fg.TreeError, match=r"optim\.scale_by_adam: .*" + message.format(ref="the Adam moment mu")):
        tx.update(bad, state.opt_state)                        # no params: checked against the moments


def test_shape_mismatch_names_path_and_shapes():
    tx, p, state = _adam_state()
    bad = {"W": p["W"].T, "b": p["b"]}
    with pytest.raises(fg.ShapeError, match=r"optim\.adam\.step: grads\['W'\] has shape \(2, 3\) but "
                                            r"params\['W'\] has shape \(3, 2\)"):
        tx.step(state, bad)
    # a state whose moments do not fit the params (e.g. restored from another model)
    adam_state = state.opt_state[0]
    broken = state._replace(opt_state=(adam_state._replace(mu={"W": p["W"], "b": np.zeros(3)}),)
                            + state.opt_state[1:])
    with pytest.raises(fg.ShapeError, match=r"scale_by_adam: grads\['b'\] has shape \(2,\) but "
                                            r"the Adam moment mu\['b'\] has shape \(3,\)"):
        tx.step(broken, p)
    missing = state._replace(opt_state=(optim.TraceState(trace={"W": p["W"]}),))
    with pytest.raises(fg.InputError, match=r"expected a ScaleByAdamState.*got TraceState"):
        tx.step(missing._replace(opt_state=(missing.opt_state[0], optim.EmptyState())), p)
    with pytest.raises(fg.InputError, match=r"tuple of 2 states.*got a tuple of 1"):
        tx.step(missing, p)
    mom = optim.sgd(0.1, momentum=0.9)
    ms = mom.init_state(p)
    with pytest.raises(fg.TreeError, match=r"trace: .*\['b'\] is in the momentum v but not in grads"):
        mom.update({"W": p["W"]}, ms.opt_state)
    with pytest.raises(fg.TreeError, match=r"apply_updates: .*\['b'\] is in params but not in updates"):
        optim.apply_updates(p, {"W": p["W"]})


def test_step_needs_a_train_state():
    tx, p, state = _adam_state()
    with pytest.raises(fg.InputError, match=r"optim\.adam\.step: state must be the TrainState.*got tuple"):
        tx.step(state.opt_state, p)
    with pytest.raises(fg.InputError, match=r"optim\.adam: expected the tuple of 2 states.*got TrainState"):
        tx.update(p, state)


_OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adam", "adamw"]


@pytest.mark.parametrize("name", _OPTIMIZERS)
@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_bad_learning_rate(name, lr):
    with pytest.raises(fg.InputError, match=rf"optim\.{name}: learning_rate must be a finite number >= 0, "
                                            rf"got .*{str(float(lr)).lstrip('-')}"):
        getattr(optim, name)(lr)


@pytest.mark.parametrize("name", _OPTIMIZERS)
def test_learning_rate_of_wrong_type(name):
    with pytest.raises(fg.InputError, match=rf"optim\.{name}: learning_rate must be a number or a schedule"):
        getattr(optim, name)("0.1")
    with pytest.raises(fg.InputError, match=rf"optim\.{name}: learning_rate must be a number"):
        getattr(optim, name)(True)


def test_zero_learning_rate_is_allowed():
    p, gs = _params(), _grad_seq()
    _close(_run(optim.adam(0.0), p, gs), p)


def test_bad_schedule_value_caught_in_eager_steps_only():
    p, gs = _params(), _grad_seq()
    for bad in (lambda t: -0.1 + 0.0 * t, lambda t: math.inf + 0.0 * t):
        tx = optim.sgd(bad)
        state = tx.init_state(p)
        with pytest.raises(fg.InputError, match=r"optim\.sgd: the learning-rate schedule returned .* at step 0; "
                                                r"a learning rate must be finite and >= 0"):
            tx.step(state, gs[0])
    # inside fg.jit the value is traced: not checkable, the step runs
    tx = optim.sgd(lambda t: -0.1 + 0.0 * t)
    out = fg.jit(tx.step, backend="interpret")(tx.init_state(p), gs[0])
    _close(out, {k: p[k] + 0.1 * gs[0][k] for k in p})


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


# ---------------------------------------------------------------- init_state / step, jit, save and restore

def test_init_state_and_step_hold_params_count_and_moments():
    opt = optim.adam(0.01)
    p, gs = _params(), _grad_seq()
    state = opt.init_state(p)
    assert isinstance(state, optim.TrainState) and int(state.step) == 0
    assert state.params is p
    adam_state = state.opt_state[0]
    assert isinstance(adam_state, optim.ScaleByAdamState)
    for k in p:
        np.testing.assert_array_equal(adam_state.mu[k], 0.0)
    for i, g in enumerate(gs, start=1):
        state = opt.step(state, g)
        assert int(state.step) == i and int(state.opt_state[0].count) == i
    ref = _reference(p, gs, _adam_rule(0.01, 0.9, 0.999, 1e-8))
    _close(state, ref)
    # the moments are the formula's m and v
    m = {k: sum(0.1 * 0.9 ** (len(gs) - i) * g[k] for i, g in enumerate(gs, start=1)) for k in p}
    for k in p:
        np.testing.assert_allclose(state.opt_state[0].mu[k], m[k], rtol=1e-12)
    # the function forms are the same thing
    _close(_run(opt, p, gs), ref)


def test_whole_step_compiles_with_numba_to_one_program():
    opt = optim.adam(0.01)
    p, gs = _params(), _grad_seq()
    step = fg.jit(lambda s, g: opt.step(s, g), backend="numba")
    state = opt.init_state(p)
    lowered = step.lower(state, gs[0])
    assert lowered.backend == "numba" and lowered.source is not None
    assert lowered.source.count("@njit") == 1                  # one generated function per step
    for g in gs:
        state = step(state, g)
    assert int(state.step) == len(gs)
    _close(state, _reference(p, gs, _adam_rule(0.01, 0.9, 0.999, 1e-8)))
    # the bound method jits too, and a schedule, clipping and momentum go in the same program
    sched = optim.warmup(0.05, 0.1, 2, then=optim.cosine_decay(0.1, 10))
    opt2 = optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(sched, momentum=0.9, nesterov=True))
    state2 = fg.jit(opt2.step, backend="numba")(opt2.init_state(p), gs[0])
    g = gs[0]
    n = math.sqrt(sum(np.sum(g[k] ** 2) for k in p))
    for k in p:
        gc = g[k] * 1.0 / max(n, 1.0)
        v = gc                                                # v_1 = 0.9 * 0 + g
        np.testing.assert_allclose(state2.params[k], p[k] - 0.05 * (gc + v), rtol=1e-12)  # lr(0) = 0.05


def test_jitted_training_step_with_grad_numba():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16,))
    opt = optim.sgd(0.1, momentum=0.5)

    def loss(params):
        r = x @ params["w"] + params["b"] - y
        return fnp.mean(r * r)

    train = fg.jit(lambda s: opt.step(s, fg.grad(loss)(s.params)), backend="numba")
    state = train(opt.init_state({"w": np.zeros(3), "b": np.zeros(())}))
    # by hand: g_w = 2/n x^T (x w + b - y) at w = 0, b = 0; v_1 = g; w_1 = -eta g
    gw, gb = 2 / 16 * x.T @ (-y), 2 / 16 * np.sum(-y)
    np.testing.assert_allclose(state.params["w"], -0.1 * gw, rtol=1e-12)
    np.testing.assert_allclose(state.params["b"], -0.1 * gb, rtol=1e-12)


def _assert_trees_equal(a, b):
    la, ta = fg.tree.flatten(a)
    lb, tb = fg.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)
        assert np.asarray(x).dtype == np.asarray(y).dtype


@pytest.mark.parametrize("make", [
    lambda: optim.adam(0.01), lambda: optim.sgd(0.1, momentum=0.9),
    lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(optim.exponential_decay(0.01, 0.9, 2))),
])
def test_state_saved_and_restored(make, tmp_path):
    import pickle

    opt = make()
    p, gs = _params(np.float32), _grad_seq(np.float32, 6)
    state = opt.init_state(p)
    for g in gs[:3]:
        state = opt.step(state, g)
    # 1. leaves and treedef
    leaves, treedef = fg.tree.flatten(state)
    assert all(isinstance(x, (np.ndarray, np.generic)) for x in leaves)
    _assert_trees_equal(treedef.unflatten([np.array(x) for x in leaves]), state)
    # 2. an .npz file
    path = tmp_path / "state.npz"
    optim.save_state(path, state)
    restored = optim.load_state(path, like=opt.init_state(p))
    _assert_trees_equal(restored, state)
    # 3. pickle
    _assert_trees_equal(pickle.loads(pickle.dumps(state)), state)
    # training on from the restored state is training on without the interruption
    a, b = state, restored
    for g in gs[3:]:
        a, b = opt.step(a, g), opt.step(b, g)
    _assert_trees_equal(a, b)


def test_load_state_checks_structure_shapes_and_dtypes(tmp_path):
    opt = optim.adam(0.01)
    p = _params()
    path = tmp_path / "s.npz"
    optim.save_state(path, opt.init_state(p))
    with pytest.raises(fg.TreeError, match=r"load_state: .*the file lacks \.params\['c'\]"):
        optim.load_state(path, like=opt.init_state({**p, "c": np.zeros(1)}))
    with pytest.raises(fg.TreeError, match=r"load_state: .*the file has \.opt_state\[0\]\.count, which the target does not"):
        optim.load_state(path, like=optim.sgd(0.1).init_state(p))
    with pytest.raises(fg.ShapeError, match=r"load_state: \.params\['W'\] is saved as float64\[3, 2\] but the "
                                            r"target has float64\[2, 3\]"):
        optim.load_state(path, like=opt.init_state({"W": p["W"].T, "b": p["b"]}))
    with pytest.raises(fg.ShapeError, match=r"float64\[2\] but the target has float32\[2\]"):
        optim.load_state(path, like=opt.init_state({"W": p["W"], "b": p["b"].astype(np.float32)}))
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(fg.InputError, match="not written by optim.save_state"):
        optim.load_state(tmp_path / "other.npz", like=opt.init_state(p))


# ---------------------------------------------------------------- against Optax (skipped without it)
# Optax's numbers in float64 (jax_enable_x64), over several steps. Where funcgrad
# follows the lecture notes rather than Optax's defaults, the Optax options that
# give the same rule are set: rmsprop(eps_in_sqrt=False); adagrad with eps=0 (Optax
# adds eps inside the sqrt) and the same initial accumulator; Nesterov in the
# Sutskever form (nesterov_form="sutskever"; the notes' form g + v_{t+1} has no
# Optax counterpart and is checked against its formula above).

@pytest.fixture
def optax64():
    optax = pytest.importorskip("optax")
    import jax

    with jax.enable_x64(True):
        yield optax


def _optax_run(optax, otx, params, grads_seq):
    import jax.numpy as jnp

    p = {k: jnp.asarray(v) for k, v in params.items()}
    s = otx.init(p)
    for g in grads_seq:
        u, s = otx.update({k: jnp.asarray(v) for k, v in g.items()}, s, p)
        p = optax.apply_updates(p, u)
    return {k: np.asarray(v) for k, v in p.items()}


def _f64(schedule):
    """Optax evaluates a schedule of its int32 count in float32 (JAX's int32 -> float32
    promotion); give it the count as float64 so that both compute in float64."""
    import jax.numpy as jnp

    return lambda count: schedule(jnp.asarray(count, dtype=jnp.float64))


_OPTAX_CASES = {
    "sgd": (lambda o: o.sgd(0.1), lambda: optim.sgd(0.1)),
    "momentum": (lambda o: o.sgd(0.05, momentum=0.9), lambda: optim.sgd(0.05, momentum=0.9)),
    "nesterov": (lambda o: o.sgd(0.05, momentum=0.9, nesterov=True),
                 lambda: optim.sgd(0.05, momentum=0.9, nesterov=True, nesterov_form="sutskever")),
    "rmsprop": (lambda o: o.rmsprop(0.01, decay=0.8, eps=1e-6, eps_in_sqrt=False),
                lambda: optim.rmsprop(0.01, decay=0.8, eps=1e-6)),
    "adagrad": (lambda o: o.adagrad(0.1, initial_accumulator_value=0.1, eps=0.0),
                lambda: optim.adagrad(0.1, eps=0.0, initial_accumulator_value=0.1)),
    "adam": (lambda o: o.adam(0.01), lambda: optim.adam(0.01)),
    "adamw": (lambda o: o.adamw(0.01, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1),
              lambda: optim.adamw(0.01, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1)),
    "adam_l2": (lambda o: o.chain(o.add_decayed_weights(0.1), o.adam(0.01)),
                lambda: optim.adam(0.01, weight_decay=0.1)),
    "sgd_l2": (lambda o: o.chain(o.add_decayed_weights(0.01), o.sgd(0.1)),
               lambda: optim.sgd(0.1, weight_decay=0.01)),
    "clip_by_global_norm": (lambda o: o.chain(o.clip_by_global_norm(1.5), o.sgd(0.1, momentum=0.9)),
                            lambda: optim.chain(optim.clip_by_global_norm(1.5), optim.sgd(0.1, momentum=0.9))),
    "clip": (lambda o: o.chain(o.clip(0.5), o.adam(0.01)), lambda: optim.chain(optim.clip(0.5), optim.adam(0.01))),
    "adam_exponential_decay": (
        lambda o: o.adam(_f64(o.exponential_decay(0.01, transition_steps=2, decay_rate=0.5))),
        lambda: optim.adam(optim.exponential_decay(0.01, 0.5, 2))),
    "adamw_warmup_cosine": (
        lambda o: o.chain(o.clip_by_global_norm(2.0),
                          o.adamw(_f64(o.warmup_cosine_decay_schedule(0.0, 0.02, 3, 10, end_value=0.002)),
                                  weight_decay=0.05)),
        lambda: optim.chain(optim.clip_by_global_norm(2.0),
                            optim.adamw(optim.warmup(0.0, 0.02, 3, then=optim.cosine_decay(0.02, 7, alpha=0.1)),
                                        weight_decay=0.05))),
}


@pytest.mark.parametrize("case", sorted(_OPTAX_CASES))
def test_against_optax(optax64, case):
    make_optax, make_ours = _OPTAX_CASES[case]
    p, gs = _params(), _grad_seq(n=12)
    gs = [{k: v * (3.0 if i % 2 else 0.2) for k, v in g.items()} for i, g in enumerate(gs)]  # norms above and below 1.5
    want = _optax_run(optax64, make_optax(optax64), p, gs)
    _close(_run(make_ours(), p, gs), want, rtol=1e-10, atol=1e-12)


def test_schedules_against_optax(optax64):
    o = optax64
    cases = [
        (o.constant_schedule(0.3), optim.constant_schedule(0.3)),
        (o.exponential_decay(0.1, transition_steps=4, decay_rate=0.9), optim.exponential_decay(0.1, 0.9, 4)),
        (o.exponential_decay(1.0, transition_steps=10, decay_rate=0.5, staircase=True), optim.step_decay(1.0, 0.5, 10)),
        (o.cosine_decay_schedule(0.2, 20, alpha=0.1), optim.cosine_decay(0.2, 20, alpha=0.1)),
        (o.linear_schedule(0.0, 1.0, 5), optim.warmup(0.0, 1.0, 5)),
        (o.warmup_cosine_decay_schedule(0.01, 1.0, 5, 25, end_value=0.1),
         optim.warmup(0.01, 1.0, 5, then=optim.cosine_decay(1.0, 20, alpha=0.1))),
    ]
    for theirs, ours in cases:
        for t in range(40):
            np.testing.assert_allclose(float(ours(np.int32(t))), float(theirs(t)), rtol=1e-12, atol=1e-15)


def test_traced_learning_rate_is_a_constant_schedule():
    """As Optax takes a traced jnp scalar: one compiled step for every rate,
    equal to the eager step with that rate as a number."""
    params = {"w": np.array([1.0, -2.0, 3.0]), "b": np.array(0.5)}
    grads = {"w": np.array([0.3, 0.1, -0.2]), "b": np.array(1.0)}
    for make in (lambda lr: optim.sgd(lr, momentum=0.9), optim.adam, optim.rmsprop):
        @fg.jit
        def step(p, g, lr):
            tx = make(lr)
            return tx.step(tx.init_state(p), g).params

        for lr in (0.1, 0.01):
            tx = make(lr)
            want = tx.step(tx.init_state(params), grads).params
            got = step(params, grads, lr)
            for k in params:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-15)
    with pytest.raises(fg.InputError, match="traced learning_rate must be a real scalar"):
        fg.jit(lambda p, lr: optim.sgd(lr).init(p))(params, np.ones(2))
