"""`ss.partition` / `ss.combine`: carrying only a scheduler's state through a jitted step.

- the split is exact: the state `NamedTuple` holds exactly the arrays `step` changes, combining gives
  the scheduler back, and a composite's children are split alike;
- a run with the configuration closed over steps like a run carrying the whole scheduler
  (the same discrete state, lrs to the last bit or within 2 ulp), compiles once,
  and passes only the state arrays in and out of the jitted call;
- halves that do not belong together are refused by name.
"""

import copy
import io
import pickle

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax
from test_compiled import CASES, _count_compiles, _metrics

import statefulsched as ss
from statefulsched._fingerprint import walk


def _state_arrays(sched) -> list:
    """The arrays of the state fields of every scheduler in `sched`, found by field name."""
    out = []
    for node in walk(sched):
        for name in type(node)._state_fields:
            if name != "schedulers":
                out.extend(jax.tree_util.tree_leaves(getattr(node, name)))
    return out


def _outputs(sched) -> tuple:
    return sched.lr, getattr(sched, "momentum", None)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_partition_splits_state_from_configuration_and_combine_restores_it(case):
    sched = case.build()
    state, config = ss.partition(sched)
    # The state: a NamedTuple per scheduler, the children's inside their composite's.
    assert isinstance(state, tuple) and type(state).__name__ == f"{type(sched).__name__}State"
    assert state._fields == type(sched)._state_fields
    assert [id(x) for x in jax.tree_util.tree_leaves(state)] == [id(x) for x in _state_arrays(sched)]
    # The configuration: the scheduler with `None` in every state field, children included.
    assert type(config) is type(sched)
    for node in walk(config):
        assert all(getattr(node, name) is None for name in type(node)._state_fields if name != "schedulers")
    config_leaves = jax.tree_util.tree_leaves(config)
    assert len(jax.tree_util.tree_leaves(state)) + len(config_leaves) == len(jax.tree_util.tree_leaves(sched))
    assert {id(node.fingerprint) for node in walk(sched)} <= {id(x) for x in config_leaves}
    assert ss.verify(config) is config
    back = ss.combine(state, config)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(sched)
    assert all(a is b for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(sched)))
    # A combined scheduler is an ordinary one: it steps eagerly like the original.
    np.testing.assert_array_equal(back.step(1.0).lr, sched.step(1.0).lr)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_a_run_with_the_configuration_closed_over_steps_like_a_carried_one(case):
    sched = case.build()
    metrics = jnp.asarray(_metrics(case))
    state, config = ss.partition(sched)

    def carried(s, m):
        s = s.step(m)
        return s, _outputs(s)

    def closed(st, m):
        s = ss.combine(st, config).step(m)
        return ss.partition(s)[0], _outputs(s)

    with _count_compiles() as compiles:
        final_closed, out_closed = jax.jit(lambda st: lax.scan(closed, st, metrics))(state)
    final, out = jax.jit(lambda s: lax.scan(carried, s, metrics))(sched)
    assert sum(compiles.values()) == 1, compiles
    rtol = 16 * float(jnp.finfo(sched.lr.dtype).eps)
    for a, b in zip(jax.tree_util.tree_leaves(out_closed), jax.tree_util.tree_leaves(out)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    # The discrete state (step counts, plateau counters) is identical; the lrs within a few ulp.
    for a, b in zip(_state_arrays(ss.combine(final_closed, config)), _state_arrays(final)):
        if jnp.issubdtype(a.dtype, jnp.integer):
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


def test_a_train_step_with_the_configuration_closed_over_carries_only_state():
    """Counted, not timed: the jitted call takes and returns the 3 state arrays of a OneCycleLR
    (not its 13), compiles once for the run, and its lrs are those of eager steps."""
    sched = ss.OneCycleLR(0.1, total_steps=50)
    state, config = ss.partition(sched)
    params = jnp.ones(4)

    def train_step(params, sched_state):
        sched = ss.combine(sched_state, config)
        params = params - sched.lr * params
        sched = sched.step()
        return params, ss.partition(sched)[0]

    jitted = jax.jit(train_step)
    lowered = jitted.lower(params, state)
    assert len(jax.tree_util.tree_leaves(lowered.args_info)) == 1 + 3
    assert len(jax.tree_util.tree_leaves(lowered.out_info)) == 1 + 3
    states = []
    with _count_compiles() as compiles:
        for _ in range(20):
            params, state = jitted(params, state)
            states.append(state)
    assert compiles == {"jit(train_step)": 1}, compiles
    eager = sched
    for state in states:
        eager = eager.step()
        np.testing.assert_allclose(ss.combine(state, config).lr, eager.lr, rtol=1e-6)
        np.testing.assert_array_equal(state.last_epoch, eager.last_epoch)


def test_partition_works_on_a_vmapped_batch():
    batch = jax.vmap(lambda g: ss.StepLR(0.1, step_size=3, gamma=g))(jnp.linspace(0.1, 0.9, 5))
    state, config = ss.partition(batch)
    assert state.lr.shape == (5,) and config.lr is None and config.gamma.shape == (5,)

    def run(st):
        def body(st, _):
            s = jax.vmap(lambda s: s.step())(ss.combine(st, config))
            return ss.partition(s)[0], s.lr

        return lax.scan(body, st, length=7)[1]

    def carried(b):
        def body(b, _):
            b = jax.vmap(lambda s: s.step())(b)
            return b, b.lr

        return lax.scan(body, b, length=7)[1]

    np.testing.assert_allclose(jax.jit(run)(state), jax.jit(carried)(batch), rtol=1e-6)


def test_the_state_half_checkpoints_and_resumes():
    sched = ss.ReduceLROnPlateau(0.1, patience=1)
    for metric in [3.0, 3.0, 3.0, 3.0]:
        sched = sched.step(metric)
    state, config = ss.partition(sched)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, state)
    buffer.seek(0)
    template, _ = ss.partition(ss.ReduceLROnPlateau(0.1, patience=1))
    restored = ss.combine(eqx.tree_deserialise_leaves(buffer, template), config)
    assert bool(eqx.tree_equal(restored, sched))
    assert float(restored.lr) == pytest.approx(0.01, rel=1e-6)  # reduced once, on the third step


def test_bad_halves_are_refused_by_name():
    one = ss.StepLR(0.1, step_size=3)
    state, config = ss.partition(one)
    with pytest.raises(TypeError, match=r"`statefulsched.partition`: `scheduler` must be a scheduler, got float"):
        ss.partition(0.1)
    with pytest.raises(TypeError, match=r"`statefulsched.combine`: `config` must be the configuration half .*got dict"):
        ss.combine(state, {"lr": 0.1})
    with pytest.raises(TypeError, match=r"`config` must be the configuration half .*got StepLRState"):
        ss.combine(config, state)  # swapped
    with pytest.raises(ValueError, match=r"state field `last_epoch` is set: a whole scheduler"):
        ss.combine(state, one)
    _, cosine_config = ss.partition(ss.CosineAnnealingLR(0.1, T_max=10))
    with pytest.raises(ValueError, match=r"`state` must be the `CosineAnnealingLRState` .* got StepLRState"):
        ss.combine(state, cosine_config)
    with pytest.raises(ValueError, match=r"`state` must be the `StepLRState` .* got dict"):
        ss.combine({"lr": 0.1}, config)
    two, three = (ss.SequentialLR([one] * n, milestones=list(range(2, n + 1))) for n in (2, 3))
    with pytest.raises(ValueError, match=r"`state` holds 2 children's states, the configuration `SequentialLR` has 3"):
        ss.combine(ss.partition(two)[0], ss.partition(three)[1])
    mixed = ss.SequentialLR([one, ss.CosineAnnealingLR(0.1, T_max=10)], milestones=[2])
    with pytest.raises(ValueError, match=r"`state.schedulers\[1\]` must be the `CosineAnnealingLRState`"):
        ss.combine(ss.partition(two)[0], ss.partition(mixed)[1])
    # Halves of schedulers with different numbers of param groups: stepping them together
    # would silently drop (or broadcast) groups, so they are refused, a child's by its path.
    pair = ss.partition(ss.OneCycleLR([0.1, 0.2], total_steps=10))
    with pytest.raises(
        ValueError,
        match=r"`config.initial_lr` has shape \(\) and `state.lr` shape \(2,\): .*"
        r"`OneCycleLR`s with different numbers of param groups",
    ):
        ss.combine(pair[0], ss.partition(ss.OneCycleLR(0.1, total_steps=10))[1])
    nested = [
        ss.SequentialLR([ss.StepLR(lr, step_size=3), ss.ConstantLR(lr)], milestones=[2]) for lr in (0.1, [0.1, 0.2])
    ]
    with pytest.raises(
        ValueError, match=r"`config.schedulers\[0\].base_lr` has shape \(\) and `state.schedulers\[0\].lr`"
    ):
        ss.combine(ss.partition(nested[1])[0], ss.partition(nested[0])[1])
    batch = jax.vmap(lambda g: ss.StepLR([0.1, 0.2], step_size=3, gamma=g))(jnp.linspace(0.1, 0.9, 5))
    batch_state, batch_config = ss.partition(batch)
    with pytest.raises(ValueError, match=r"`config.base_lr` has shape \(5, 2\) and `state.lr` shape \(2,\)"):
        jax.vmap(lambda st: ss.combine(st, batch_config))(batch_state)  # the batch of configurations not vmapped
    assert jax.vmap(ss.combine)(batch_state, batch_config).lr.shape == (5, 2)


@pytest.mark.parametrize("adapter", ["stateful", "stateful_schedule", "scale_by_scheduler"])
def test_the_optax_adapters_keep_only_the_state_in_the_optimizer_state(adapter):
    sched = ss.OneCycleLR(0.1, total_steps=30)
    if adapter == "stateful":
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=sched)
    elif adapter == "stateful_schedule":
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=ss.optax.stateful_schedule(sched))
    else:
        opt = optax.chain(optax.sgd(1.0), ss.optax.scale_by_scheduler(sched))
    params = jnp.ones(3)
    opt_state = opt.init(params)

    def held(tree) -> list:
        is_state = lambda x: type(x).__name__ == "OneCycleLRState"  # noqa: E731
        return [x for x in jax.tree_util.tree_leaves(tree, is_leaf=is_state) if is_state(x)]

    (half,) = held(opt_state)  # the state; the configuration stays in the optimizer's closure
    assert half._fields == ("last_epoch", "lr", "momentum")
    is_scheduler = lambda x: isinstance(x, ss.AbstractScheduler)  # noqa: E731
    assert not any(map(is_scheduler, jax.tree_util.tree_leaves(opt_state, is_leaf=is_scheduler)))

    update = jax.jit(opt.update)
    with _count_compiles() as compiles:
        for _ in range(5):
            _, opt_state = update(jnp.ones(3), opt_state, params)
    assert sum(compiles.values()) == 1, compiles
    (half,) = held(opt_state)
    np.testing.assert_array_equal(half.last_epoch, 5)
    np.testing.assert_allclose(half.lr, sched.step().step().step().step().step().lr, rtol=1e-6)


def test_a_state_pickles_and_copies():
    """Plain `pickle` of a train state (or of an optimizer state holding a scheduler's state)
    works: the generated NamedTuple types pickle through their scheduler class."""
    sched = ss.SequentialLR([ss.LinearLR(0.1, total_iters=3), ss.ReduceLROnPlateau(0.1)], milestones=[3])
    for _ in range(5):
        sched = sched.step(2.0)
    state, config = ss.partition(sched)
    restored = pickle.loads(pickle.dumps(jax.device_get(state)))
    assert type(restored) is type(state) and type(restored.schedulers[1]) is type(state.schedulers[1])
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
    assert bool(eqx.tree_equal(ss.combine(jax.tree_util.tree_map(jnp.asarray, restored), config), sched))
    assert copy.deepcopy(state)._fields == state._fields
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=ss.OneCycleLR(0.1, total_steps=10))
    opt_state = opt.init(jnp.ones(2))
    again = pickle.loads(pickle.dumps(jax.device_get(opt_state)))
    assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(opt_state)


def test_an_optimizer_state_holding_a_scheduler_state_resumes_exactly_through_save_and_load(tmp_path):
    sched = ss.SequentialLR([ss.LinearLR(0.1, total_iters=3), ss.ReduceLROnPlateau(0.1, patience=1)], milestones=[3])
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched)
    params = jnp.ones(3)
    update = jax.jit(lambda s, m: opt.update(jnp.ones(3), s, params, value=m)[1])
    losses = jnp.asarray([3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0], jnp.float32)
    straight = opt.init(params)
    for i, loss in enumerate(losses):
        straight = update(straight, loss)
        if i == 4:
            ss.save(tmp_path / "ckpt", straight)
    resumed = ss.load(tmp_path / "ckpt", opt.init(params))
    for loss in losses[5:]:
        resumed = update(resumed, loss)
    assert jax.tree_util.tree_structure(resumed) == jax.tree_util.tree_structure(straight)
    for a, b in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(straight)):
        np.testing.assert_array_equal(a, b)
    assert float(straight.hyperparams["learning_rate"]) < 0.1  # the plateau reduced it after the milestone


@pytest.mark.parametrize(
    "build",
    [
        lambda: ss.PolynomialLR(0.1, total_iters=150, power=2.0),
        lambda: ss.CosineAnnealingLR([0.1, 0.05], T_max=150),
        lambda: ss.SequentialLR([ss.LinearLR(0.1, start_factor=0.01, total_iters=20), ss.SWALR(0.1, 0.05)], [20]),
    ],
    ids=["PolynomialLR", "CosineAnnealingLR-2groups", "SequentialLR(LinearLR,SWALR)"],
)
def test_a_closed_over_configuration_is_not_folded_into_the_step(build):
    """Folded as constants, these steps came out 2-3 ulp away from a carried scheduler's (XLA
    turns `x ** 2.0` into `x * x` and divides by a constant through its reciprocal). Behind the
    barrier that `combine` puts around a closed-over configuration they are the same bits."""
    sched = build()
    state, config = ss.partition(sched)

    def closed(st, _):
        s = ss.combine(st, config).step()
        return ss.partition(s)[0], s.lr

    def carried(s, _):
        s = s.step()
        return s, s.lr

    jaxpr = jax.make_jaxpr(lambda st: closed(st, None))(state)
    assert "optimization_barrier" in {eqn.primitive.name for eqn in jaxpr.jaxpr.eqns}
    closed_lrs = jax.jit(lambda st: lax.scan(closed, st, length=200)[1])(state)
    carried_lrs = jax.jit(lambda s: lax.scan(carried, s, length=200)[1])(sched)
    np.testing.assert_array_equal(closed_lrs, carried_lrs)
