"""Closed forms beyond "set `last_epoch` and advance once".

`jump` computes a scheduler's whole state any number of steps ahead in constant time, equal
to stepping it that many times, so `values(n)` is vectorised over the step counts and
`to_schedule` costs the same at every count. Besides the classes whose step depends on the
step count alone, that holds for
- a `SequentialLR` of closed-form children: every child's step count and lr, not just the
  lr handed on (hypothesis-generated children, milestones with 0, starting points, nesting);
- `CosineAnnealingWarmRestarts`: the restarts on the way are counted, not replayed (against
  stepping, and at counts up to `2**31 - 1` against torch's recurrence in Python integers);
- a `ChainedScheduler` of multiplicative children: the product of their jumped factors.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import statefulsched as ss
from statefulsched import _curve
from statefulsched._curve import closed_form, jump, values
from statefulsched._fingerprint import walk

SETTINGS = settings(max_examples=int(os.environ.get("SS_HYPOTHESIS_EXAMPLES", "20")), deadline=None, derandomize=True)
LR = 0.1

CHILDREN = {
    "LinearLR": lambda d: ss.LinearLR(
        LR, start_factor=d.draw(st.floats(0.01, 1.0)), total_iters=d.draw(st.integers(1, 20))
    ),
    "CosineAnnealingLR": lambda d: ss.CosineAnnealingLR(LR, T_max=d.draw(st.integers(1, 40)), eta_min=0.001),
    "StepLR": lambda d: ss.StepLR(LR, step_size=d.draw(st.integers(1, 10)), gamma=0.5),
    "ConstantLR": lambda d: ss.ConstantLR(LR, factor=0.5, total_iters=d.draw(st.integers(1, 10))),
    "ExponentialLR": lambda d: ss.ExponentialLR(LR, gamma=0.9),
    "PolynomialLR": lambda d: ss.PolynomialLR(LR, total_iters=d.draw(st.integers(1, 30)), power=2.0),
    "CosineAnnealingWarmRestarts": lambda d: ss.CosineAnnealingWarmRestarts(
        LR, T_0=d.draw(st.integers(1, 8)), T_mult=d.draw(st.integers(1, 3)), eta_min=0.001
    ),
    "ChainedScheduler": lambda d: ss.ChainedScheduler(
        [ss.ConstantLR(LR, factor=0.5, total_iters=d.draw(st.integers(1, 10))), ss.StepLR(LR, step_size=3, gamma=0.9)]
    ),
}


def _milestones(d, count: int) -> list[int]:
    gaps = d.draw(st.lists(st.integers(1, 15), min_size=count, max_size=count))
    first = d.draw(st.integers(0, 1)) * gaps[0] if count else 0  # sometimes a milestone at 0
    return [first + sum(gaps[1 : i + 1]) for i in range(count)]


def _sequential(d, depth: int = 0) -> ss.SequentialLR:
    count = d.draw(st.integers(1, 3))
    children = []
    for _ in range(count):
        if depth == 0 and d.draw(st.integers(0, 5)) == 0:
            children.append(_sequential(d, depth + 1))  # nested
        else:
            children.append(CHILDREN[d.draw(st.sampled_from(sorted(CHILDREN)))](d))
    return ss.SequentialLR(children, milestones=_milestones(d, count - 1))


def _counts(sched) -> list[int]:
    return [int(node.last_epoch) for node in walk(sched)]


@given(st.data())
@SETTINGS
def test_a_sequential_jump_is_its_stepped_state(d):
    sched = _sequential(d)
    assert closed_form(sched)
    for _ in range(d.draw(st.integers(0, 30))):
        sched = sched.step()
    n = d.draw(st.integers(1, 50))
    stepped = [sched]
    for _ in range(n):
        stepped.append(stepped[-1].step())
    jumped_to = jax.jit(jump)
    for k in sorted({0, 1, n, *d.draw(st.lists(st.integers(0, n), max_size=6))}):
        jumped = jumped_to(sched, k)
        assert _counts(jumped) == _counts(stepped[k]), k
        for a, b in zip(walk(jumped), walk(stepped[k])):
            np.testing.assert_allclose(a.lr, b.lr, rtol=1e-6, atol=0, err_msg=f"{type(b).__name__} after {k}")
    curve = values(sched, n + 1)
    np.testing.assert_array_equal(curve[0], sched.lr)
    np.testing.assert_allclose(curve, np.stack([s.lr for s in stepped]), rtol=1e-6, atol=0)


def test_which_composites_have_a_closed_form():
    linear, cosine = ss.LinearLR(LR, total_iters=5), ss.CosineAnnealingLR(LR, T_max=10)
    multiplicative = ss.ChainedScheduler([linear, ss.ExponentialLR(LR, gamma=0.9)])
    assert closed_form(multiplicative)
    for child in [cosine, ss.SequentialLR([cosine, linear], milestones=[3]), ss.CosineAnnealingWarmRestarts(LR, T_0=4)]:
        assert closed_form(ss.SequentialLR([linear, child], milestones=[5]))
    assert closed_form(ss.SequentialLR([linear, multiplicative], milestones=[5]))
    # A chained cosine adds torch's increment to the lr it is handed: a recurrence.
    assert not closed_form(ss.ChainedScheduler([linear, cosine]))
    # Children without one, or carrying on from the lr their predecessor reached: replayed.
    for child in [
        ss.MultiplicativeLR(LR, lambda t: 0.9),
        ss.SWALR(LR, swa_lr=0.05),
        ss.ChainedScheduler([linear, cosine]),
    ]:
        assert not closed_form(ss.SequentialLR([linear, child], milestones=[5]))
    assert not closed_form(ss.SequentialLR([linear, ss.ReduceLROnPlateau(LR)], milestones=[5]))


def _stepped(sched, n: int) -> list:
    trajectory = [sched]
    for _ in range(n):
        trajectory.append(trajectory[-1].step())
    return trajectory


@given(
    st.integers(1, 12),
    st.integers(1, 4),
    st.sampled_from([0.0, 0.001]),
    st.integers(0, 40),
    st.integers(1, 120),
    st.lists(st.integers(0, 120), max_size=8),
)
@SETTINGS
def test_a_warm_restarts_jump_counts_the_restarts(t_0, t_mult, eta_min, before, n, counts):
    sched = ss.CosineAnnealingWarmRestarts([LR, 2 * LR], T_0=t_0, T_mult=t_mult, eta_min=eta_min)
    sched = _stepped(sched, before)[-1]
    stepped = _stepped(sched, n)
    jumped_to = jax.jit(jump)
    for k in sorted({0, 1, n, *(c for c in counts if c <= n)}):
        jumped = jumped_to(sched, k)
        for field in ("last_epoch", "T_cur", "T_i"):
            assert int(getattr(jumped, field)) == int(getattr(stepped[k], field)), (field, k)
        np.testing.assert_allclose(jumped.lr, stepped[k].lr, rtol=1e-6, atol=0, err_msg=f"after {k}")
    curve = values(sched, n + 1)
    np.testing.assert_array_equal(curve[0], sched.lr)
    np.testing.assert_allclose(curve, np.stack([s.lr for s in stepped]), rtol=1e-6, atol=0)


INT32_MAX = 2**31 - 1


def _torch_periods(t_0: int, t_mult: int, steps: int, hold_past_int32: bool = False) -> tuple[int, int]:
    """torch's `T_cur, T_i` after `steps` steps, in Python integers (no overflow); with
    `hold_past_int32`, a period longer than `2**31 - 1` steps is not entered: the position
    stays at the previous one's end, as ours does."""
    if t_mult == 1:
        return steps % t_0, t_0
    t_cur, t_i = steps, t_0
    while t_cur >= t_i:
        if hold_past_int32 and t_i * t_mult > INT32_MAX:
            return t_i - 1, t_i
        t_cur, t_i = t_cur - t_i, t_i * t_mult
    return t_cur, t_i


@given(
    st.one_of(st.integers(1, 10), st.integers(1, INT32_MAX)),
    st.one_of(st.integers(1, 10), st.integers(1, INT32_MAX)),
    st.one_of(st.integers(0, 1_000), st.integers(0, INT32_MAX)),
)
@SETTINGS
def test_a_warm_restarts_jump_is_exact_across_the_int32_range(t_0, t_mult, steps):
    """Wherever every period reached fits in `int32` (where stepping is right), the jump
    gives torch's counters, however far and however close to overflowing the periods are."""
    t_cur, t_i = _torch_periods(t_0, t_mult, steps)
    if t_i > INT32_MAX:
        return  # a period `int32` cannot count: out of range for `step` too
    jumped = jax.jit(jump)(ss.CosineAnnealingWarmRestarts(LR, T_0=t_0, T_mult=t_mult), steps)
    assert (int(jumped.last_epoch), int(jumped.T_cur), int(jumped.T_i)) == (steps, t_cur, t_i)
    expected = LR * (1 + np.cos(np.pi * t_cur / t_i)) / 2
    np.testing.assert_allclose(jumped.lr, expected, rtol=1e-5, atol=1e-12)


def test_a_warm_restarts_jump_at_the_edges_of_int32():
    for t_0, t_mult, steps in [
        (1, 2, INT32_MAX - 1),  # the next period would start at 2**31 - 1 and last 2**31
        (3, 2, INT32_MAX),  # the last step of a period that ends past int32
        (2**30, 2, 2**30 - 1),  # the next period (2**31 steps) cannot be counted
        (1000, 10, 1_111_110_999),  # the last step before a 10**10-step period
        (INT32_MAX, INT32_MAX, INT32_MAX - 1),
        (7, 1, INT32_MAX),
    ]:
        t_cur, t_i = _torch_periods(t_0, t_mult, steps)
        assert t_i <= INT32_MAX  # in range
        jumped = jax.jit(jump)(ss.CosineAnnealingWarmRestarts(LR, T_0=t_0, T_mult=t_mult), steps)
        assert (int(jumped.T_cur), int(jumped.T_i)) == (t_cur, t_i), (t_0, t_mult, steps)


@given(st.integers(1, INT32_MAX), st.integers(1, INT32_MAX))
@SETTINGS
def test_the_overflow_checked_product_of_period_lengths(a, b):
    from statefulsched._schedulers.cosine import _times

    product = jax.jit(_times)(jnp.int32(a), jnp.int32(b))
    assert int(product) == (a * b if a * b <= INT32_MAX else 0)


@given(st.data())
@SETTINGS
def test_a_multiplicative_chain_jumps_each_child(d):
    names = ["ConstantLR", "ExponentialLR", "LinearLR", "PolynomialLR", "StepLR"]
    children = [CHILDREN[d.draw(st.sampled_from(names))](d) for _ in range(d.draw(st.integers(1, 3)))]
    sched = _stepped(ss.ChainedScheduler(children), d.draw(st.integers(0, 30)))[-1]
    n = d.draw(st.integers(1, 60))
    stepped = _stepped(sched, n)
    for k in sorted({0, 1, n, *d.draw(st.lists(st.integers(0, n), max_size=6))}):
        jumped = jax.jit(jump)(sched, k)
        assert _counts(jumped) == _counts(stepped[k]), k
        np.testing.assert_allclose(jumped.lr, stepped[k].lr, rtol=1e-6, atol=0, err_msg=f"after {k}")
    np.testing.assert_allclose(values(sched, n + 1), np.stack([s.lr for s in stepped]), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "sched",
    [
        ss.CosineAnnealingWarmRestarts(LR, T_0=10, T_mult=2),
        ss.CosineAnnealingWarmRestarts(LR, T_0=4),
        ss.ChainedScheduler([ss.ConstantLR(LR, total_iters=5), ss.ExponentialLR(LR, gamma=0.99)]),
        ss.SequentialLR(
            [ss.LinearLR(LR, start_factor=0.1, total_iters=5), ss.CosineAnnealingWarmRestarts(LR, T_0=10)],
            milestones=[5],
        ),
    ],
    ids=lambda s: type(s).__name__,
)
def test_to_schedule_of_warm_restarts_and_chains_has_no_loop(sched):
    schedule = ss.optax.to_schedule(sched)
    jaxpr = jax.make_jaxpr(schedule)(jnp.int32(3))
    assert not any(eqn.primitive.name in ("while", "scan") for eqn in jaxpr.jaxpr.eqns)
    stepped = _stepped(sched, 40)
    # Jitted with the scheduler closed over, as inside an optimizer: its arrays are constants
    # (XLA took 93 s to fold the warm restarts' table of periods before it was kept from it).
    curve = jax.jit(jax.vmap(schedule))(jnp.arange(41))
    np.testing.assert_allclose(curve, np.stack([s.lr for s in stepped]), rtol=1e-6)


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 17, 10_000])
def test_to_schedule_of_a_warmup_cosine_costs_the_same_at_every_count(count):
    """No replay: the schedule's program holds no loop, and gives the stepped value."""
    warmup, t_max = 10, 20_000
    sched = ss.SequentialLR(
        [ss.LinearLR(LR, start_factor=0.01, total_iters=warmup), ss.CosineAnnealingLR(LR, T_max=t_max)],
        milestones=[warmup],
    )
    schedule = ss.optax.to_schedule(sched)
    jaxpr = jax.make_jaxpr(schedule)(jnp.int32(count))
    assert not any(eqn.primitive.name in ("while", "scan") for eqn in jaxpr.jaxpr.eqns)
    if count <= 17:
        for _ in range(count):
            sched = sched.step()
        np.testing.assert_allclose(schedule(count), sched.lr, rtol=1e-6)
    else:  # the cosine, `count - warmup` steps into its `T_max`
        expected = LR * (1 + np.cos(np.pi * (count - warmup) / t_max)) / 2
        np.testing.assert_allclose(schedule(count), expected, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# How the vectorised curve is laid out (see `_curve._spans`)


@given(st.integers(1, 5_000), st.integers(1, 64))
@SETTINGS
def test_the_curve_splits_into_a_span_of_whole_parts_and_the_rest(n, parts):
    spans = _curve._spans(n, parts)
    assert [i for lo, hi in spans for i in range(lo, hi)] == list(range(n))  # in order, each row once
    assert 1 <= len(spans) <= 2
    if len(spans) == 2:
        (_, bulk), (_, end) = spans
        assert bulk % parts == 0 and end - bulk < parts


@pytest.mark.parametrize("parts", [1, 2, 8])
@pytest.mark.parametrize("n", [1, 2, 7, 8, 41])
def test_a_curve_split_into_spans_is_the_stepped_trajectory(monkeypatch, parts, n):
    """Whatever the number of parts, every row (row 0 the current value exactly) is the stepped one."""
    monkeypatch.setattr(_curve, "_loop_parts", lambda: parts)
    scheds = [
        ss.OneCycleLR([0.1, 0.2], total_steps=60).step().step(),
        ss.SequentialLR([ss.LinearLR(LR, start_factor=0.1, total_iters=5), ss.StepLR(LR, step_size=3)], milestones=[5]),
    ]
    for sched in scheds:
        program = jax.make_jaxpr(lambda s: _curve._curve_of(s, n, "lr", None))(sched)
        lengths = [eqn.outvars[0].aval.shape[0] for eqn in program.jaxpr.eqns if eqn.primitive.name == "iota"]
        assert sorted(lengths, reverse=True) == [length for length in (n - n % parts, n % parts) if length]
        curve = jax.jit(lambda s: _curve._curve_of(s, n, "lr", None))(sched)
        np.testing.assert_array_equal(curve[0], sched.lr)
        expected = [sched.lr]
        for _ in range(n - 1):
            sched = sched.step()
            expected.append(sched.lr)
        np.testing.assert_allclose(curve, np.stack(expected), rtol=1e-6, atol=0)
