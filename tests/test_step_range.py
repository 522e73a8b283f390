"""The end of the `int32` step range: counts stop there instead of wrapping around.

Step counts are `int32`, as optax's are. Once a scheduler's `last_epoch` reaches
`2**31 - 1` it stays there, as optax's count saturates, and a further `step` (eager, jitted,
in a `lax.scan`) repeats the step that reached it: a closed form holds its value, a
recurrence goes on applying its step. `jump` and `values` stop there too. Before, the count
wrapped to `-2**31` and a `StepLR` lr became `inf`. A `CosineAnnealingWarmRestarts` whose
next period would last more than `2**31 - 1` steps (`T_i` would wrap, and its lr became
`-inf`) holds its position at the end of the last period `int32` can count; its
`last_epoch` goes on.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax import lax
from test_closed_form import INT32_MAX, LR, SETTINGS, _torch_periods
from test_compiled import CASES, _metrics

import statefulsched as ss
from statefulsched._curve import closed_form, jump, values
from statefulsched._fingerprint import walk


def _counted_to(sched, count: int):
    """`sched` with every step count (its own and its children's) set to `count`."""
    nodes = list(walk(sched))
    return eqx.tree_at(lambda s: [node.last_epoch for node in walk(s)], sched, [jnp.int32(count)] * len(nodes))


def _state(sched) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(sched)]


def _assert_stopped(first, second, case) -> None:
    """Two steps from a count of `2**31 - 2`: the count stops, and a closed form holds."""
    assert int(first.last_epoch) == int(second.last_epoch) == INT32_MAX, case
    # (A `SequentialLR` steps only its active child, so the others keep their counts.)
    assert all(int(node.last_epoch) >= INT32_MAX - 1 for node in walk(second)), case
    # Warm restarts count their position in the period themselves (`T_cur`, as torch does),
    # and it goes on; every other closed form is a function of the count, so it holds.
    if closed_form(first) and not any(isinstance(node, ss.CosineAnnealingWarmRestarts) for node in walk(first)):
        for a, b in zip(_state(first), _state(second)):
            np.testing.assert_array_equal(a, b, err_msg=repr(case))
    # (Not necessarily finite: an `ExponentialLR` with `gamma > 1` overflows to `inf`, as torch's does.)
    assert not np.any(np.isnan(np.asarray(second.lr))), case


# `OneCycleLR` at `2**31 - 2` is long past its end, where its eager step raises, as torch's does.
PAST_THEIR_END = {"OneCycleLR"}


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_scheduler_stops_counting_at_the_end_of_int32(case):
    sched = _counted_to(case.build(), INT32_MAX - 1)
    metric = _metrics(case)[0]

    def twice(s, m):
        once = s.step(m)
        return once, once.step(m)

    # Traced, in a jitted step and in a `lax.scan`, and eager: the same states.
    traced = jax.jit(twice)(sched, metric)
    _assert_stopped(*traced, case)
    scanned = lax.scan(lambda s, m: (s.step(m), None), sched, jnp.stack([metric] * 2))[0]
    for a, b in zip(_state(scanned), _state(traced[1])):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=repr(case))
    if any(type(node).__name__ in PAST_THEIR_END for node in walk(sched)):
        with pytest.raises(ValueError, match="more than `total_steps` times"):
            sched.step(metric)
        return
    eager = twice(sched, metric)
    _assert_stopped(*eager, case)
    for a, b in zip(_state(eager[1]), _state(traced[1])):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=repr(case))


def test_step_lr_holds_a_finite_lr_where_it_became_inf():
    sched = _counted_to(ss.StepLR(LR, step_size=1, gamma=1.0), INT32_MAX - 1)
    for _ in range(3):
        sched = sched.step()
        assert int(sched.last_epoch) == INT32_MAX
        assert float(sched.lr) == pytest.approx(LR)


def test_jump_and_values_stop_at_the_end_of_int32():
    sched = _counted_to(ss.StepLR(LR, step_size=10, gamma=1.0), INT32_MAX - 3)
    for steps in (3, 4, INT32_MAX):
        jumped = jax.jit(jump)(sched, steps)
        assert int(jumped.last_epoch) == INT32_MAX
        assert float(jumped.lr) == pytest.approx(LR)
    curve = values(sched, 6)
    np.testing.assert_allclose(curve, LR, rtol=1e-6)


@st.composite
def _near_a_long_period(draw) -> tuple[int, int, int]:
    """A first period whose successor `int32` cannot count, and a step count around its end."""
    t_0 = draw(st.integers(2, 2**30))
    t_mult = draw(st.integers(-(-(INT32_MAX + 1) // t_0), INT32_MAX))
    return t_0, t_mult, t_0 + draw(st.integers(-3, 1_000))


_anywhere = st.tuples(
    st.one_of(st.integers(1, 10), st.integers(1, INT32_MAX)),
    st.one_of(st.integers(2, 10), st.integers(2**10, 2**16), st.integers(2, INT32_MAX)),
    st.one_of(st.integers(0, 1_000), st.integers(0, INT32_MAX)),
)


@given(st.one_of(_near_a_long_period(), _anywhere))
@SETTINGS
def test_warm_restarts_hold_before_a_period_int32_cannot_count(case):
    """The jump, anywhere in the int32 range, against the held recurrence in Python integers;
    and a few steps from there against the jump."""
    t_0, t_mult, steps = case
    t_cur, t_i = _torch_periods(t_0, t_mult, steps, hold_past_int32=True)
    sched = ss.CosineAnnealingWarmRestarts(LR, T_0=t_0, T_mult=t_mult)
    jumped = jax.jit(jump)(sched, steps)
    assert (int(jumped.last_epoch), int(jumped.T_cur), int(jumped.T_i)) == (steps, t_cur, t_i)
    expected = LR * (1 + np.cos(np.pi * t_cur / t_i)) / 2
    np.testing.assert_allclose(jumped.lr, expected, rtol=1e-5, atol=1e-12)
    assert np.isfinite(float(jumped.lr))
    stepped = jumped
    for k in range(1, 4):
        if steps + k > INT32_MAX:
            break
        stepped = stepped.step()
        again = jax.jit(jump)(sched, steps + k)
        assert (
            (int(stepped.T_cur), int(stepped.T_i))
            == (int(again.T_cur), int(again.T_i))
            == _torch_periods(t_0, t_mult, steps + k, hold_past_int32=True)
        )
        np.testing.assert_array_equal(stepped.lr, again.lr)


def test_warm_restarts_hold_where_the_lr_became_minus_inf():
    # The second period would last 2**31 steps: `T_i` wrapped to -2**31 and the lr to -inf.
    sched = ss.CosineAnnealingWarmRestarts(LR, T_0=2**20, T_mult=2**11)
    end = jax.jit(jump)(sched, 2**20 - 2)
    assert (int(end.T_cur), int(end.T_i)) == (2**20 - 2, 2**20)
    held = end.step()
    for _ in range(3):
        held = held.step()
        assert (int(held.T_cur), int(held.T_i)) == (2**20 - 1, 2**20)
        assert float(held.lr) == pytest.approx(LR * (1 + np.cos(np.pi * (2**20 - 1) / 2**20)) / 2, rel=1e-5)
    assert int(held.last_epoch) == 2**20 + 2
    # A step count that goes on under `jit` and `lax.scan` holds the same.
    scanned = lax.scan(lambda s, _: (s.step(), None), end, None, length=4)[0]
    np.testing.assert_array_equal(scanned.lr, held.lr)
    assert int(scanned.T_i) == 2**20
