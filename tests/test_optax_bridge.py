"""The optax bridge: `set_hyperparams`, schedulers as stateful schedules, `scale_by_scheduler`, `to_schedule`.

Every test runs real optax optimizers; values are compared with the scheduler's own
stepped trajectory, and trace counts stand in for "does not recompile".
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_compiled import CASES

import statefulsched as ss

PARAMS = {"w": jnp.arange(1.0, 4.0), "b": jnp.array([0.5, -0.5])}
GRADS = {"w": jnp.array([0.3, -0.2, 0.1]), "b": jnp.array([1.0, 2.0])}


def _loss(params):
    return jnp.sum(params["w"] ** 2) + jnp.sum(jnp.sin(params["b"]))


def _injected(opt_state):
    """Every injected hyperparameter dict in `opt_state`, in pytree order."""
    is_injected = lambda x: isinstance(x, optax.InjectStatefulHyperparamsState)  # noqa: E731
    return [s.hyperparams for s in jax.tree.leaves(opt_state, is_leaf=is_injected) if is_injected(s)]


# --- set_hyperparams: finding the injected state ------------------------------------------

NESTINGS = {
    "bare": lambda inner: inner,
    "chain": lambda inner: optax.chain(optax.clip_by_global_norm(1.0), inner),
    "named_chain": lambda inner: optax.named_chain(("clip", optax.clip(1.0)), ("opt", inner)),
    "MultiSteps": lambda inner: optax.MultiSteps(inner, every_k_schedule=2),
    "multi_transform": lambda inner: optax.multi_transform({"all": inner}, {"w": "all", "b": "all"}),
    "chain-in-MultiSteps": lambda inner: optax.MultiSteps(optax.chain(optax.clip(1.0), inner), 3),
}


@pytest.mark.parametrize("nesting", NESTINGS)
def test_set_hyperparams_finds_nested_state(nesting):
    sched = ss.CosineAnnealingLR(0.1, T_max=5)
    opt = NESTINGS[nesting](optax.inject_hyperparams(optax.adamw)(learning_rate=sched.lr, weight_decay=1e-4))
    opt_state = opt.init(PARAMS)
    for _ in range(7):
        sched = sched.step()
        new_state = ss.optax.set_hyperparams(opt_state, sched)
        assert jax.tree.structure(new_state) == jax.tree.structure(opt_state)
        (hyperparams,) = _injected(new_state)
        assert hyperparams["learning_rate"] == sched.lr
        assert hyperparams["weight_decay"] == np.float32(1e-4)
        _, opt_state = opt.update(GRADS, new_state, PARAMS)
    (hyperparams,) = _injected(opt_state)
    assert hyperparams["learning_rate"] == sched.lr  # what the last update used


def test_set_hyperparams_does_not_modify_its_input():
    sched = ss.StepLR(0.1, step_size=1, gamma=0.5)
    opt_state = optax.inject_hyperparams(optax.sgd)(learning_rate=sched.lr).init(PARAMS)
    ss.optax.set_hyperparams(opt_state, sched.step())
    assert opt_state.hyperparams["learning_rate"] == np.float32(0.1)


def test_set_hyperparams_param_groups_map_to_sorted_labels():
    sched = ss.MultiStepLR([0.1, 0.01], milestones=[1, 2], gamma=0.5)
    make = optax.inject_hyperparams(optax.sgd)
    opt = optax.multi_transform(
        {"head": make(learning_rate=0.1), "body": make(learning_rate=0.01)}, {"w": "body", "b": "head"}
    )
    opt_state = opt.init(PARAMS)
    for _ in range(3):
        sched = sched.step()
        opt_state = ss.optax.set_hyperparams(opt_state, sched)
        inner = opt_state.inner_states
        assert inner["body"].inner_state.hyperparams["learning_rate"] == sched.lr[0]  # "body" < "head"
        assert inner["head"].inner_state.hyperparams["learning_rate"] == sched.lr[1]
        explicit = ss.optax.set_hyperparams(opt_state, sched, labels=["head", "body"])
        assert explicit.inner_states["head"].inner_state.hyperparams["learning_rate"] == sched.lr[0]
        assert explicit.inner_states["body"].inner_state.hyperparams["learning_rate"] == sched.lr[1]
        updates, opt_state = opt.update(GRADS, opt_state, PARAMS)
        np.testing.assert_array_equal(updates["w"], -sched.lr[0] * GRADS["w"])
        np.testing.assert_array_equal(updates["b"], -sched.lr[1] * GRADS["b"])


def test_set_hyperparams_one_group_into_one_label():
    sched = ss.ExponentialLR(0.1, gamma=0.5)
    opt = optax.multi_transform(
        {"frozen": optax.set_to_zero(), "train": optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)},
        {"w": "train", "b": "frozen"},
    )
    opt_state = ss.optax.set_hyperparams(opt.init(PARAMS), sched.step())
    assert opt_state.inner_states["train"].inner_state.hyperparams["learning_rate"] == np.float32(0.05)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.1), "b1"),
        (lambda: optax.inject_hyperparams(optax.adamw)(learning_rate=0.1), "b1"),
        (lambda: optax.inject_hyperparams(optax.nadam)(learning_rate=0.1), "b1"),
        (lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9), "momentum"),
        (lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9, nesterov=True), "momentum"),
    ],
)
def test_set_hyperparams_writes_cycled_momentum(make, name):
    sched = ss.OneCycleLR(0.1, total_steps=20)
    opt = make()
    opt_state = opt.init(PARAMS)
    for _ in range(20):
        sched = sched.step()
        opt_state = ss.optax.set_hyperparams(opt_state, sched)
        assert opt_state.hyperparams["learning_rate"] == sched.lr
        assert opt_state.hyperparams[name] == sched.momentum
        _, opt_state = opt.update(GRADS, opt_state, PARAMS)


def test_set_hyperparams_momentum_of_groups_and_explicit_name():
    sched = ss.CyclicLR([0.01, 0.02], [0.1, 0.2], step_size_up=3, base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.95])
    make = optax.inject_hyperparams(optax.sgd)
    opt = optax.multi_transform(
        {"a": make(learning_rate=0.1, momentum=0.9), "b": make(learning_rate=0.1, momentum=0.9)}, {"w": "a", "b": "b"}
    )
    opt_state = opt.init(PARAMS)
    for _ in range(5):
        sched = sched.step()
        opt_state = ss.optax.set_hyperparams(opt_state, sched, momentum="momentum")
        for i, label in enumerate("ab"):
            hyperparams = opt_state.inner_states[label].inner_state.hyperparams
            assert hyperparams["learning_rate"] == sched.lr[i]
            assert hyperparams["momentum"] == sched.momentum[i]


def test_set_hyperparams_flax_nnx_optimizer_in_place():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    sched = ss.OneCycleLR(0.1, total_steps=10)
    optimizer = nnx.Optimizer(model, optax.inject_hyperparams(optax.adam)(learning_rate=sched.lr), wrt=nnx.Param)
    x = jnp.ones((4, 3))

    @nnx.jit
    def train_step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(model)
        optimizer.update(model, grads)

    for _ in range(5):
        sched = sched.step()
        assert ss.optax.set_hyperparams(optimizer, sched) is optimizer
        assert optimizer.opt_state.hyperparams["learning_rate"].get_value() == sched.lr
        assert optimizer.opt_state.hyperparams["b1"].get_value() == sched.momentum
        train_step(model, optimizer)
    assert optimizer.opt_state.hyperparams["learning_rate"].get_value() == sched.lr


# --- set_hyperparams: dtypes, weak types, no retracing ---------------------------------------


@pytest.mark.parametrize("weak", [False, True])
def test_set_hyperparams_keeps_dtype_and_weak_type(weak):
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=0.1).init(PARAMS)
    if weak:  # a value set by hand, as optax's docs do: `state.hyperparams["learning_rate"] = 0.05`
        opt_state.hyperparams["learning_rate"] = jnp.asarray(0.05)
    old = opt_state.hyperparams["learning_rate"]
    new = ss.optax.set_hyperparams(opt_state, ss.ConstantLR(0.3, factor=0.5)).hyperparams["learning_rate"]
    assert (new.dtype, new.weak_type, new.shape) == (old.dtype, old.weak_type, old.shape)
    assert new == np.float32(0.15)


def test_set_hyperparams_under_x64_params_in_float32(x64):
    # Under x64 the scheduler works in float64; the optimizer keeps float32 hyperparameters.
    params = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS)
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=0.1).init(params)
    sched = ss.ExponentialLR(0.1, gamma=0.9).step()
    assert sched.lr.dtype == jnp.float64
    new = ss.optax.set_hyperparams(opt_state, sched).hyperparams["learning_rate"]
    assert new.dtype == jnp.float32 and not new.weak_type
    assert new == np.float32(sched.lr)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ss.OneCycleLR(0.1, total_steps=40),
        lambda: ss.ReduceLROnPlateau(0.1, patience=1),
        lambda: ss.SequentialLR([ss.LinearLR(0.1, 0.1, total_iters=5), ss.CosineAnnealingLR(0.1, T_max=30)], [5]),
    ],
)
def test_bridged_train_step_traces_once(make):
    sched = make()
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched.lr)
    traces = collections.Counter()

    @jax.jit
    def train_step(params, opt_state):
        traces["n"] += 1
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state = PARAMS, opt.init(PARAMS)
    for _ in range(30):
        params, opt_state, loss = train_step(params, opt_state)
        sched = sched.step(loss)
        opt_state = ss.optax.set_hyperparams(opt_state, sched)
    assert traces["n"] == 1


def test_set_hyperparams_under_jit():
    sched = ss.OneCycleLR(0.1, total_steps=30)
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched.lr)
    traces = collections.Counter()

    @jax.jit
    def train_step(params, opt_state, sched):
        traces["n"] += 1
        grads = jax.grad(_loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        sched = sched.step()
        return optax.apply_updates(params, updates), ss.optax.set_hyperparams(opt_state, sched), sched

    params, opt_state = PARAMS, opt.init(PARAMS)
    lrs = []
    for _ in range(30):
        lrs.append(opt_state.hyperparams["learning_rate"])
        params, opt_state, sched = train_step(params, opt_state, sched)
    assert traces["n"] == 1
    expected = ss.OneCycleLR(0.1, total_steps=30)
    for lr in lrs:
        assert lr == expected.lr
        expected = expected.step()


# --- set_hyperparams: the same trajectory as optax's own optimizers ------------------------


def _far_loss(params):
    # The optimum is out of reach in 50 steps: no parameter oscillates around it, where
    # Adam's `m / sqrt(v)` would amplify last-bit differences.
    return jnp.sum((params["w"] - 5.0) ** 2) + jnp.sum((params["b"] + 5.0) ** 2)


def _run(opt, lr_sched=None, steps=50, params=PARAMS):
    opt_state = opt.init(params)
    if lr_sched is not None:
        opt_state = ss.optax.set_hyperparams(opt_state, lr_sched)
    update = jax.jit(opt.update)
    for _ in range(steps):
        grads = jax.grad(_far_loss)(params)
        updates, opt_state = update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if lr_sched is not None:
            lr_sched = lr_sched.step()
            opt_state = ss.optax.set_hyperparams(opt_state, lr_sched)
    return params


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_bridged_constant_lr_follows_the_plain_optimizer(name):
    factory = getattr(optax, name)
    constant = ss.ConstantLR(3e-2, factor=1.0)
    bridged = _run(optax.inject_hyperparams(factory)(learning_rate=constant.lr), constant)
    injected = _run(optax.inject_hyperparams(factory)(learning_rate=3e-2))
    plain = _run(factory(3e-2))
    # Bit for bit the injected optimizer: the bridge changes nothing.
    jax.tree.map(np.testing.assert_array_equal, bridged, injected)
    if name == "sgd":
        jax.tree.map(np.testing.assert_array_equal, bridged, plain)
    else:
        # optax's injection itself stores `b1`, `b2`, `decay`... as float32 arrays where the
        # plain optimizer computes `1 - b1` from Python floats: last-bit differences per step,
        # which 50 steps of a normalising optimizer accumulate to about 1e-5.
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=5e-5), bridged, plain)


def test_bridged_constant_lr_follows_the_plain_optimizer_x64(x64):
    params = jax.tree.map(lambda p: p.astype(jnp.float64), PARAMS)
    constant = ss.ConstantLR(3e-2, factor=1.0)
    bridged = _run(optax.inject_hyperparams(optax.adam)(learning_rate=constant.lr), constant, params=params)
    injected = _run(optax.inject_hyperparams(optax.adam)(learning_rate=3e-2), params=params)
    jax.tree.map(np.testing.assert_array_equal, bridged, injected)


# --- set_hyperparams: mistakes raise ---------------------------------------------------------


def test_bfloat16_hyperparameters_are_refused():
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    sched = ss.CosineAnnealingLR(1e-3, T_max=10)
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3).init(params)
    assert opt_state.hyperparams["b2"] == 1.0  # optax rounded 0.999 to bfloat16
    with pytest.raises(ValueError, match=r"bfloat16.*`b2` is 1\.0.*hyperparam_dtype=jnp\.float32"):
        ss.optax.set_hyperparams(opt_state, sched)
    safe = optax.inject_hyperparams(optax.adam, hyperparam_dtype=jnp.float32)(learning_rate=1e-3).init(params)
    new = ss.optax.set_hyperparams(safe, sched.step())
    assert new.hyperparams["learning_rate"] == sched.step().lr
    assert new.hyperparams["b2"] == np.float32(0.999)


def test_integer_learning_rate_is_refused():
    opt_state = optax.inject_hyperparams(optax.sgd)(learning_rate=1).init(PARAMS)
    with pytest.raises(ValueError, match=r"`learning_rate` as int32.*truncate.*learning_rate=1\.0"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, step_size=2))


def test_schedule_function_is_refused():
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=optax.cosine_decay_schedule(0.1, 100)).init(PARAMS)
    with pytest.raises(ValueError, match=r"`learning_rate` is a schedule that optax recomputes"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, step_size=2))


def test_plain_optimizer_is_refused():
    with pytest.raises(ValueError, match=r"no injected hyperparameters.*inject_hyperparams"):
        ss.optax.set_hyperparams(optax.adam(optax.cosine_decay_schedule(0.1, 100)).init(PARAMS), ss.StepLR(0.5, 2))


def test_missing_name_is_refused():
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=0.1).init(PARAMS)
    with pytest.raises(ValueError, match=r"no injected `lr`.*\['b1', 'b2', 'eps', 'eps_root', 'learning_rate'\]"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, 2), lr="lr")


@pytest.mark.parametrize(
    "make",
    [
        lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),  # momentum=None is not injected
        lambda: optax.inject_hyperparams(optax.adagrad)(learning_rate=0.1),
    ],
)
def test_cycled_momentum_with_nowhere_to_go_is_refused(make):
    opt_state = make().init(PARAMS)
    with pytest.raises(ValueError, match=r"cycles momentum.*neither `b1`.*nor `momentum`.*cycle_momentum=False"):
        ss.optax.set_hyperparams(opt_state, ss.OneCycleLR(0.1, total_steps=10))
    ss.optax.set_hyperparams(opt_state, ss.OneCycleLR(0.1, total_steps=10, cycle_momentum=False))


def test_momentum_name_for_scheduler_without_momentum_is_refused():
    opt_state = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9).init(PARAMS)
    with pytest.raises(ValueError, match=r"`StepLR` cycles no momentum"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, 2), momentum="momentum")


def test_group_mismatches_are_refused():
    make = optax.inject_hyperparams(optax.sgd)
    opt = optax.multi_transform({"a": make(learning_rate=0.1), "b": make(learning_rate=0.1)}, {"w": "a", "b": "b"})
    opt_state = opt.init(PARAMS)
    with pytest.raises(ValueError, match=r"1 param group\(s\).*under 2 `multi_transform` labels \['a', 'b'\]"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, 2))
    ss.optax.set_hyperparams(opt_state, ss.StepLR(0.5, 2), labels=["b"])
    with pytest.raises(ValueError, match=r"3 param group\(s\).*2 `multi_transform` labels"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR([0.5, 0.1, 0.2], 2))
    with pytest.raises(ValueError, match=r"no injected `learning_rate` under the label\(s\) \['c'\]"):
        ss.optax.set_hyperparams(opt_state, ss.StepLR([0.5, 0.1], 2), labels=["a", "c"])
    chained = optax.chain(make(learning_rate=0.1), make(learning_rate=0.2)).init(PARAMS)
    with pytest.raises(ValueError, match=r"not all under `optax.multi_transform` labels"):
        ss.optax.set_hyperparams(chained, ss.StepLR(0.5, 2))


# --- a scheduler inside the optimizer ---------------------------------------------------------


def _lrs_used(opt, steps, **extra):
    """The lr each of `steps` jitted updates used, read from the injected state after it."""
    update = jax.jit(lambda g, s, p, **kw: opt.update(g, s, p, **kw))
    opt_state, used = opt.init(PARAMS), []
    for k in range(steps):
        kwargs = {name: values[k] for name, values in extra.items()}
        _, opt_state = update(GRADS, opt_state, PARAMS, **kwargs)
        used.append(opt_state.hyperparams)
    return used


@pytest.mark.parametrize(
    "case", [c for c in CASES if "ReduceLROnPlateau" not in c.id and "groups" not in c.id], ids=repr
)
def test_scheduler_is_an_optax_stateful_schedule(case):
    # Update k uses the lr of the scheduler after k steps. The optimizer closes over the
    # scheduler's configuration (behind an optimization barrier); compiled in another program,
    # the lr can still differ from the eagerly stepped one in the last bit (PolynomialDecay).
    sched = case.build()
    assert isinstance(sched, optax.schedules.StatefulSchedule)
    state = sched.init()  # the state: the configuration stays with `sched`
    assert state.lr is sched.lr and state.last_epoch is sched.last_epoch and not hasattr(state, "fingerprint")
    used = _lrs_used(optax.inject_hyperparams(optax.sgd)(learning_rate=sched), 25)
    rtol = 8 * float(jnp.finfo(sched.lr.dtype).eps)
    for hyperparams in used:
        np.testing.assert_allclose(hyperparams["learning_rate"], sched.lr, rtol=rtol, atol=0)
        sched = sched.step()


def test_plateau_inside_the_optimizer_steps_on_the_value_argument():
    sched = ss.ReduceLROnPlateau(0.1, patience=1, factor=0.5)
    losses = np.array([3.0, 2.0, 2.0, 2.0, 2.5, 1.0, 1.0, 1.0, 1.0, 1.0], np.float32)
    used = _lrs_used(optax.inject_hyperparams(optax.sgd)(learning_rate=sched), len(losses), value=losses)
    for hyperparams, loss in zip(used, losses):
        assert hyperparams["learning_rate"] == sched.lr
        sched = sched.step(loss)
    assert sched.lr < 0.1 / 4  # it did reduce


def test_stateful_schedule_momentum_groups_and_accumulation():
    sched = ss.OneCycleLR([0.1, 0.2], total_steps=40, base_momentum=[0.85, 0.8])
    opt = optax.inject_hyperparams(optax.adam)(
        learning_rate=ss.optax.stateful_schedule(sched, group=1, accumulation_size=3),
        b1=ss.optax.stateful_schedule(sched, value="momentum", group=1, accumulation_size=3),
    )
    used = _lrs_used(opt, 30)
    for k, hyperparams in enumerate(used):
        if k and k % 3 == 0:
            sched = sched.step()
        assert hyperparams["learning_rate"] == sched.lr[1]
        assert hyperparams["b1"] == sched.momentum[1]


def test_accumulated_metric_is_the_mean_over_the_window():
    sched = ss.ReduceLROnPlateau(1.0, patience=0, factor=0.5, threshold=0.0)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=ss.optax.stateful_schedule(sched, accumulation_size=4))
    # Window means: 2.5, 2.5 (no improvement: reduce), 1.0, 1.75 (reduce).
    values = np.array([1, 2, 3, 4, 4, 3, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 9], np.float32)
    used = _lrs_used(opt, len(values), value=values)
    lrs = [float(h["learning_rate"]) for h in used]
    assert lrs == [1.0] * 8 + [0.5] * 8 + [0.25]


def test_scheduler_inside_a_jitted_scan_traces_once():
    sched = ss.SequentialLR([ss.LinearLR(0.1, 0.1, total_iters=5), ss.ReduceLROnPlateau(0.1, patience=2)], [5])
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=ss.optax.stateful_schedule(sched, accumulation_size=2))
    traces = collections.Counter()

    def body(carry, _):
        traces["n"] += 1
        params, opt_state = carry
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params, value=loss)
        return (optax.apply_updates(params, updates), opt_state), opt_state.hyperparams["learning_rate"]

    run = jax.jit(lambda params, opt_state: jax.lax.scan(body, (params, opt_state), length=60))
    (_, final), lrs = run(PARAMS, opt.init(PARAMS))
    assert traces["n"] == 1
    assert final.hyperparams_states["learning_rate"].scheduler.last_epoch == 30
    np.testing.assert_allclose(lrs[0], 0.01, rtol=1e-6)
    assert np.all(np.isfinite(lrs))


def test_stateful_mistakes_raise():
    with pytest.raises(ValueError, match=r"has 2 param groups.*group=i"):
        optax.inject_hyperparams(optax.sgd)(learning_rate=ss.StepLR([0.1, 0.2], 2)).init(PARAMS)
    with pytest.raises(ValueError, match=r"`stateful_schedule\(group=...\)`.*2 param groups, got 2"):
        ss.optax.stateful_schedule(ss.StepLR([0.1, 0.2], 2), group=2)
    with pytest.raises(ValueError, match=r"`stateful_schedule\(value=\"momentum\"\)`: `StepLR` cycles no momentum"):
        ss.optax.stateful_schedule(ss.StepLR(0.1, 2), value="momentum")
    with pytest.raises(ValueError, match=r"accumulation_size=...\)` must be a positive integer, got 0"):
        ss.optax.stateful_schedule(ss.StepLR(0.1, 2), accumulation_size=0)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=ss.ReduceLROnPlateau(0.1))
    with pytest.raises(TypeError, match=r"steps on the metric passed to every update as `value=...`"):
        opt.update(GRADS, opt.init(PARAMS), PARAMS, loss=1.0)


def test_scheduler_given_to_a_plain_optimizer_says_what_to_do():
    opt = optax.adam(ss.StepLR(0.1, 2))
    with pytest.raises(TypeError, match=r"called with ArrayImpl.*inject_hyperparams\(optax.adam\)"):
        opt.update(GRADS, opt.init(PARAMS), PARAMS)


# --- scale_by_scheduler ----------------------------------------------------------------------


def test_scale_by_scheduler_scales_then_steps():
    sched = ss.StepLR(1.0, step_size=2, gamma=0.5)
    opt = optax.chain(optax.sgd(0.1), ss.optax.scale_by_scheduler(sched))
    opt_state = opt.init(PARAMS)
    update = jax.jit(opt.update)
    for _ in range(7):
        updates, opt_state = update(GRADS, opt_state, PARAMS)
        np.testing.assert_allclose(updates["w"], -0.1 * GRADS["w"] * sched.lr, rtol=1e-7)
        sched = sched.step()
        assert opt_state[1].scheduler.lr == sched.lr


def test_scale_by_scheduler_keeps_update_dtypes():
    params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), PARAMS)
    opt = ss.optax.scale_by_scheduler(ss.CosineAnnealingLR(1.0, T_max=10))
    updates, _ = opt.update(jax.tree.map(lambda p: p.astype(jnp.bfloat16), GRADS), opt.init(params))
    assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))


def test_scale_by_scheduler_with_groups():
    opt = ss.optax.scale_by_scheduler(ss.ConstantLR([1.0, 4.0], factor=0.5, total_iters=1), group=1)
    updates, _ = opt.update(GRADS, opt.init(PARAMS))
    np.testing.assert_array_equal(updates["w"], GRADS["w"] * 2.0)
    with pytest.raises(ValueError, match=r"`scale_by_scheduler\(group=...\)`"):
        ss.optax.scale_by_scheduler(ss.ConstantLR([1.0, 4.0]))


# --- to_schedule -----------------------------------------------------------------------------

METRIC_FREE = [c for c in CASES if "ReduceLROnPlateau" not in c.id]


@pytest.mark.parametrize("case", METRIC_FREE, ids=repr)
def test_to_schedule_equals_the_stepped_trajectory(case):
    sched = case.build()
    values = ["lr"] + (["momentum"] if getattr(sched, "momentum", None) is not None else [])
    groups = [None] if sched.lr.ndim == 0 else list(range(sched.lr.shape[0]))
    steps = min(case.steps, 40)
    schedules = {(v, g): jax.jit(ss.optax.to_schedule(sched, value=v, group=g)) for v in values for g in groups}
    stepped = sched
    for k in range(steps):
        for (v, g), schedule in schedules.items():
            expected = getattr(stepped, v) if g is None else getattr(stepped, v)[g]
            # Within a few ulp: the schedule and the eager step are separately compiled programs.
            np.testing.assert_allclose(schedule(k), expected, rtol=1e-6, atol=0, err_msg=f"{v}[{g}] at {k}")
        stepped = stepped.step()
    # Relative to where the scheduler is now.
    later = ss.optax.to_schedule(stepped, value=values[0], group=groups[0])
    np.testing.assert_allclose(later(0), stepped.lr if groups[0] is None else stepped.lr[0], rtol=1e-6)


def test_to_schedule_vmaps_over_counts_and_drives_an_optimizer():
    sched = ss.OneCycleLR(0.1, total_steps=50)
    schedule = ss.optax.to_schedule(sched)
    curve = jax.vmap(schedule)(jnp.arange(50))
    stepped = []
    for _ in range(50):
        stepped.append(sched.lr)
        sched = sched.step()
    np.testing.assert_allclose(curve, np.array(stepped), rtol=1e-6)
    opt = optax.sgd(ss.optax.to_schedule(ss.OneCycleLR(0.1, total_steps=50)))
    opt_state = opt.init(PARAMS)
    for k in range(5):
        updates, opt_state = opt.update(GRADS, opt_state, PARAMS)
        np.testing.assert_allclose(updates["w"], -stepped[k] * GRADS["w"], rtol=1e-6)


def test_to_schedule_refuses_metric_schedulers():
    with pytest.raises(ValueError, match=r"`ReduceLROnPlateau` steps on a metric"):
        ss.optax.to_schedule(ss.ReduceLROnPlateau(0.1))
    with pytest.raises(ValueError, match=r"`SequentialLR` steps on a metric"):
        ss.optax.to_schedule(ss.SequentialLR([ss.StepLR(0.1, 2), ss.ReduceLROnPlateau(0.1)], [3]))
