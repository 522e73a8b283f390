"""A `SequentialLR` of closed-form children has a closed form too.

`jump` computes its whole state any number of steps ahead in constant time: every child's
step count and lr, not just the lr handed on, equal to stepping it that many times. So
`values(n)` is vectorised over the step counts and `to_schedule` costs the same at every count.
Checked against stepping on hypothesis-generated children, milestones (0 included), starting
points and nesting.
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


def test_which_sequentials_have_a_closed_form():
    linear, cosine = ss.LinearLR(LR, total_iters=5), ss.CosineAnnealingLR(LR, T_max=10)
    assert closed_form(ss.SequentialLR([linear, cosine], milestones=[5]))
    assert closed_form(ss.SequentialLR([linear, ss.SequentialLR([cosine, linear], milestones=[3])], milestones=[5]))
    # Children without one, or carrying on from the lr their predecessor reached: replayed.
    for child in [
        ss.CosineAnnealingWarmRestarts(LR, T_0=4),
        ss.MultiplicativeLR(LR, lambda t: 0.9),
        ss.SWALR(LR, swa_lr=0.05),
        ss.ChainedScheduler([linear, cosine]),
    ]:
        assert not closed_form(ss.SequentialLR([linear, child], milestones=[5]))
    assert not closed_form(ss.SequentialLR([linear, ss.ReduceLROnPlateau(LR)], milestones=[5]))


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
        program = jax.make_jaxpr(lambda s: _curve._curve_unchecked(s, n, "lr", None))(sched)
        lengths = [eqn.outvars[0].aval.shape[0] for eqn in program.jaxpr.eqns if eqn.primitive.name == "iota"]
        assert sorted(lengths, reverse=True) == [length for length in (n - n % parts, n % parts) if length]
        curve = jax.jit(lambda s: _curve._curve_unchecked(s, n, "lr", None))(sched)
        np.testing.assert_array_equal(curve[0], sched.lr)
        expected = [sched.lr]
        for _ in range(n - 1):
            sched = sched.step()
            expected.append(sched.lr)
        np.testing.assert_allclose(curve, np.stack(expected), rtol=1e-6, atol=0)
