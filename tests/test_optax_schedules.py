"""The schedulers mirroring optax's schedule catalogue, against optax 0.2.8 itself.

The reference is the optax function called eagerly with the count as a Python `int`,
`optax_fn(k)` (under x64 with optax evaluated under x64 too): our scheduler after `k` steps
must have exactly that lr, bit for bit, in float32 and in float64. (optax's functions
compiled with `jax.jit` can differ from their eager values in the last bit: XLA's CPU
backend fuses `a * b + c` into an FMA and divides by constants through their reciprocal.
Our steps compute every operation rounded, as eager optax does, in every context.)

Also: eager, jitted and scanned stepping agree; the pytree never changes; a compiled run
traces once for any hyperparameter values; schedulers built under `jax.vmap` behave like
their members; bad arguments raise `ValueError`s naming the call, argument and value.
"""

import inspect
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import statefulsched as ss
from statefulsched._base import replace
from statefulsched._schedulers.optax_basic import (
    ConstantSchedule,
    ExponentialDecay,
    LinearSchedule,
    PolynomialSchedule,
    WarmupConstantSchedule,
    WarmupExponentialDecaySchedule,
)
from statefulsched._schedulers.optax_cosine import CosineDecaySchedule, SGDRSchedule, WarmupCosineDecaySchedule
from statefulsched._schedulers.optax_join import JoinSchedules
from statefulsched._schedulers.optax_onecycle import CosineOnecycleSchedule, LinearOnecycleSchedule
from statefulsched._schedulers.optax_piecewise import PiecewiseConstantSchedule, PiecewiseInterpolateSchedule

SETTINGS = settings(
    max_examples=int(os.environ.get("SS_HYPOTHESIS_EXAMPLES", "20")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
RUNTIME_ERRORS = (ValueError, RuntimeError)

# Each scheduler class and the optax function it mirrors; they take the same arguments.
MIRRORS: dict[type, Callable] = {
    ConstantSchedule: optax.constant_schedule,
    LinearSchedule: optax.linear_schedule,
    PolynomialSchedule: optax.polynomial_schedule,
    ExponentialDecay: optax.exponential_decay,
    WarmupConstantSchedule: optax.warmup_constant_schedule,
    WarmupExponentialDecaySchedule: optax.warmup_exponential_decay_schedule,
    CosineDecaySchedule: optax.cosine_decay_schedule,
    WarmupCosineDecaySchedule: optax.warmup_cosine_decay_schedule,
    SGDRSchedule: optax.sgdr_schedule,
    CosineOnecycleSchedule: optax.cosine_onecycle_schedule,
    LinearOnecycleSchedule: optax.linear_onecycle_schedule,
    PiecewiseConstantSchedule: optax.piecewise_constant_schedule,
    PiecewiseInterpolateSchedule: optax.piecewise_interpolate_schedule,
    JoinSchedules: optax.join_schedules,
}


@pytest.mark.parametrize("cls", list(MIRRORS), ids=lambda cls: cls.__name__)
def test_signature_is_optax(cls):
    """Argument names, order and defaults are optax's, so `cls(**kwargs)` mirrors `optax_fn(**kwargs)`."""

    def described(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    assert described(cls) == described(MIRRORS[cls])


@pytest.fixture(params=["float32", "x64"])
def precision(request):
    if request.param == "x64":
        request.getfixturevalue("x64")
    return request.param


def _float_dtype():
    return np.dtype(np.float64 if jax.config.read("jax_enable_x64") else np.float32)


def _trajectory(sched, n: int) -> np.ndarray:
    """The lr after construction and after each of `n` eager steps."""
    lrs = [np.asarray(sched.lr)]
    for _ in range(n):
        sched = sched.step()
        lrs.append(np.asarray(sched.lr))
    return np.stack(lrs)  # on the host: `jnp.stack` would compile once per length


def _optax_values(fn: Callable, n: int) -> np.ndarray:
    """`fn(k)` for `k = 0..n`, called eagerly with Python ints, in the working dtype.

    (optax returns Python floats for its constant cases; they round to the working dtype
    as soon as they meet an array, as here.)
    """
    return np.asarray([np.asarray(fn(k), dtype=np.float64) for k in range(n + 1)]).astype(_float_dtype())


def check_mirror(cls: type, kwargs: dict[str, Any], n: int):
    """Build `cls(**kwargs)`, step it `n` times; its lrs must equal `optax_fn(**kwargs)(k)` exactly."""
    sched = cls(**kwargs)
    ours = _trajectory(sched, n)
    reference = _optax_values(MIRRORS[cls](**kwargs), n)
    assert ours.dtype == _float_dtype()
    assert int(sched.last_epoch) == 0
    np.testing.assert_array_equal(ours, reference, err_msg=f"{cls.__name__}({kwargs})")


# ---------------------------------------------------------------------------------------
# Strategies


def floats(lo: float, hi: float):
    # Nonzero values float32 rounds to zero are rejected (see the validation tests).
    return st.floats(lo, hi, allow_subnormal=False).filter(lambda x: x == 0 or abs(x) > 1e-30)


values = floats(-1.0, 1.0)
# optax holds the initial value for `transition_steps <= 0` and clamps a negative begin.
transition_steps = st.one_of(st.integers(-3, 0), st.integers(1, 60))
transition_begin = st.one_of(st.integers(-10, -1), st.integers(0, 30))
# A Python int exponent is applied by repeated multiplication, a float one by `pow`.
exponents = st.one_of(st.integers(0, 4), floats(0.0, 4.0))
decay_rates = st.one_of(st.just(0.0), floats(0.05, 1.0), floats(1.0, 1.1))
n_cheap = st.integers(40, 100)
# optax's piecewise interpolation (and so its one-cycle schedules) takes about 1 ms per
# eager call: those runs are kept shorter, with their boundaries within them.
n_costly = st.integers(30, 60)


@st.composite
def exponential_kwargs(draw):
    return dict(
        transition_steps=draw(transition_steps),
        decay_rate=draw(decay_rates),
        transition_begin=draw(transition_begin),
        staircase=draw(st.booleans()),
        # A lower bound when the rate is below 1, an upper bound above; either side of init.
        end_value=draw(st.one_of(st.none(), values)),
    )


@st.composite
def warmup_cosine_kwargs(draw, max_warmup: int = 30, max_decay: int = 60, exponent=exponents):
    warmup = draw(st.integers(0, max_warmup))
    return dict(
        init_value=draw(values),
        peak_value=draw(st.one_of(st.just(0.0), values)),
        warmup_steps=warmup,
        decay_steps=warmup + draw(st.integers(1, max_decay)),
        end_value=draw(values),
        exponent=draw(exponent),
    )


@st.composite
def scale_dicts(draw):
    # One size only (each array shape compiles its own step); the hand-picked cases have others.
    steps = draw(st.lists(st.integers(-10, 50), min_size=3, max_size=3, unique=True))
    return {step: draw(floats(0.0, 3.0)) for step in steps}


# ---------------------------------------------------------------------------------------
# Differential tests, one per class


@SETTINGS
@given(value=values)
def test_constant(value, precision):
    check_mirror(ConstantSchedule, dict(value=value), 50)


@SETTINGS
@given(init=values, end=values, steps=transition_steps, begin=transition_begin, n=n_cheap)
def test_linear(init, end, steps, begin, n, precision):
    kwargs = dict(init_value=init, end_value=end, transition_steps=steps, transition_begin=begin)
    check_mirror(LinearSchedule, kwargs, n)


@SETTINGS
@given(init=values, end=values, power=exponents, steps=transition_steps, begin=transition_begin, n=n_cheap)
def test_polynomial(init, end, power, steps, begin, n, precision):
    kwargs = dict(init_value=init, end_value=end, power=power, transition_steps=steps, transition_begin=begin)
    check_mirror(PolynomialSchedule, kwargs, n)


@SETTINGS
@given(init=values, kwargs=exponential_kwargs(), n=n_cheap)
def test_exponential_decay(init, kwargs, n, precision):
    check_mirror(ExponentialDecay, dict(init_value=init, **kwargs), n)


@SETTINGS
@given(init=values, peak=values, warmup=st.integers(0, 80), n=n_cheap)
def test_warmup_constant(init, peak, warmup, n, precision):
    check_mirror(WarmupConstantSchedule, dict(init_value=init, peak_value=peak, warmup_steps=warmup), n)


@SETTINGS
@given(init=values, peak=values, warmup=st.integers(0, 30), kwargs=exponential_kwargs(), n=n_cheap)
def test_warmup_exponential_decay(init, peak, warmup, kwargs, n, precision):
    kwargs = dict(init_value=init, peak_value=peak, warmup_steps=warmup, **kwargs)
    check_mirror(WarmupExponentialDecaySchedule, kwargs, n)


@SETTINGS
@given(
    init=values,
    decay=st.integers(1, 80),
    alpha=st.one_of(st.just(0.0), floats(-0.5, 1.5)),
    exponent=exponents,
    n=n_cheap,
)
def test_cosine_decay(init, decay, alpha, exponent, n, precision):
    kwargs = dict(init_value=init, decay_steps=decay, alpha=alpha, exponent=exponent)
    check_mirror(CosineDecaySchedule, kwargs, n)


@SETTINGS
@given(kwargs=warmup_cosine_kwargs(), n=n_cheap)
def test_warmup_cosine_decay(kwargs, n, precision):
    check_mirror(WarmupCosineDecaySchedule, kwargs, n)


@st.composite
def sgdr_cycles(draw):
    # Three cycles (each number of cycles compiles its own step), with float exponents: a
    # Python int exponent per cycle is a static flag. The hand-picked cases have others.
    cycle = warmup_cosine_kwargs(max_warmup=8, max_decay=15, exponent=floats(0.0, 4.0))
    return draw(st.lists(cycle, min_size=3, max_size=3))


@SETTINGS
@given(cycles=sgdr_cycles(), extra=st.integers(1, 20))
def test_sgdr(cycles, extra, precision):
    # Run through every cycle and on past the last.
    n = sum(c["decay_steps"] for c in cycles) + extra
    check_mirror(SGDRSchedule, dict(cosine_kwargs=cycles), n)


@SETTINGS
@given(
    steps=st.integers(1, 40),
    peak=values,
    pct=st.one_of(st.sampled_from([0.0, 1.0]), floats(0.0, 1.0)),
    div=floats(0.5, 100.0),
    final_div=floats(0.5, 1e4),
    extra=st.integers(1, 15),
)
def test_cosine_onecycle(steps, peak, pct, div, final_div, extra, precision):
    kwargs = dict(transition_steps=steps, peak_value=peak, pct_start=pct, div_factor=div, final_div_factor=final_div)
    check_mirror(CosineOnecycleSchedule, kwargs, steps + extra)


@SETTINGS
@given(
    steps=st.integers(1, 40),
    peak=values,
    pcts=st.lists(st.one_of(st.sampled_from([0.0, 1.0]), floats(0.0, 1.0)), min_size=2, max_size=2).map(sorted),
    same=st.booleans(),
    div=floats(0.5, 100.0),
    final_div=floats(0.5, 1e4),
    extra=st.integers(1, 15),
)
def test_linear_onecycle(steps, peak, pcts, same, div, final_div, extra, precision):
    # `same`: coinciding phase boundaries, which optax's dict collapses.
    pct_start, pct_final = (pcts[0], pcts[0]) if same else pcts
    kwargs = dict(
        transition_steps=steps,
        peak_value=peak,
        pct_start=pct_start,
        pct_final=pct_final,
        div_factor=div,
        final_div_factor=final_div,
    )
    check_mirror(LinearOnecycleSchedule, kwargs, steps + extra)


@SETTINGS
@given(init=values, table=scale_dicts(), n=n_cheap)
def test_piecewise_constant(init, table, n, precision):
    check_mirror(PiecewiseConstantSchedule, dict(init_value=init, boundaries_and_scales=table), n)


@SETTINGS
@given(kind=st.sampled_from(["linear", "cosine"]), init=values, table=scale_dicts(), n=n_costly)
def test_piecewise_interpolate(kind, init, table, n, precision):
    kwargs = dict(interpolate_type=kind, init_value=init, boundaries_and_scales=table)
    check_mirror(PiecewiseInterpolateSchedule, kwargs, n)


# Joins of one to three pieces, optax-mirroring and torch-style. A few fixed shapes, so
# the composite's step compiles a handful of times. Each piece is drawn as
# `(scheduler builder, its values as a function of its own count or None)`; None means
# "its own standalone trajectory".
def _piece(draw, kind: str):
    if kind == "linear":
        kwargs = dict(init_value=draw(values), end_value=draw(values), transition_steps=draw(st.integers(1, 60)))
        return lambda: LinearSchedule(**kwargs), optax.linear_schedule(**kwargs)
    if kind == "cosine":
        kwargs = dict(init_value=draw(values), decay_steps=draw(st.integers(1, 60)), alpha=draw(floats(0.0, 0.5)))
        return lambda: CosineDecaySchedule(**kwargs), optax.cosine_decay_schedule(**kwargs)
    if kind == "warmup_cosine":
        kwargs = draw(warmup_cosine_kwargs())
        kwargs["exponent"] = float(kwargs["exponent"])
        return lambda: WarmupCosineDecaySchedule(**kwargs), optax.warmup_cosine_decay_schedule(**kwargs)
    if kind == "exponential":
        kwargs = dict(
            init_value=draw(values), transition_steps=draw(st.integers(1, 20)), decay_rate=draw(floats(0.5, 1))
        )
        kwargs.update(staircase=True, end_value=draw(floats(-0.1, 0.1)))
        return lambda: ExponentialDecay(**kwargs), optax.exponential_decay(**kwargs)
    if kind == "piecewise":
        steps = sorted(draw(st.lists(st.integers(0, 80), min_size=2, max_size=2, unique=True)))
        kwargs = dict(init_value=draw(values), boundaries_and_scales={s: draw(floats(0.0, 2.0)) for s in steps})
        return lambda: PiecewiseConstantSchedule(**kwargs), optax.piecewise_constant_schedule(**kwargs)
    if kind == "LinearLR":
        lr, factor, iters = draw(floats(0.01, 1.0)), draw(floats(0.01, 1.0)), draw(st.integers(1, 30))
        return lambda: ss.LinearLR(lr, start_factor=factor, total_iters=iters), None
    if kind == "StepLR":
        lr, size, gamma = draw(floats(0.01, 1.0)), draw(st.integers(1, 20)), draw(floats(0.1, 1.0))
        return lambda: ss.StepLR(lr, step_size=size, gamma=gamma), None
    raise AssertionError(kind)


JOIN_SHAPES = [
    ("linear",),
    ("LinearLR", "cosine", "exponential"),
    ("warmup_cosine", "piecewise", "StepLR"),
]


@st.composite
def joins(draw):
    kinds = draw(st.sampled_from(JOIN_SHAPES))
    pieces = [_piece(draw, kind) for kind in kinds]
    boundaries = sorted(draw(st.lists(st.integers(0, 80), min_size=len(kinds) - 1, max_size=len(kinds) - 1)))
    return kinds, pieces, boundaries


@SETTINGS
@given(case=joins(), n=st.integers(40, 120))
def test_join(case, n, precision):
    kinds, pieces, boundaries = case
    functions = []
    for build, function in pieces:
        if function is None:
            # A torch-style piece: its own trajectory (negative counts are never selected).
            values_ = _trajectory(build(), n)
            function = lambda k, values_=values_: values_[max(k, 0)]  # noqa: E731
        functions.append(function)
    sched = JoinSchedules([build() for build, _ in pieces], boundaries)
    ours = _trajectory(sched, n)
    reference = _optax_values(optax.join_schedules(functions, boundaries), n)
    np.testing.assert_array_equal(ours, reference, err_msg=f"{kinds} {boundaries}")


# ---------------------------------------------------------------------------------------
# Hand-picked edge cases


EDGES = [
    (LinearSchedule, dict(init_value=0.1, end_value=0.5, transition_steps=0)),
    (LinearSchedule, dict(init_value=0.1, end_value=0.0, transition_steps=-4, transition_begin=3)),
    (LinearSchedule, dict(init_value=0.3, end_value=0.01, transition_steps=1, transition_begin=-5)),
    (PolynomialSchedule, dict(init_value=1.0, end_value=0.01, power=2, transition_steps=100, transition_begin=5)),
    (PolynomialSchedule, dict(init_value=1.0, end_value=0.01, power=2.0, transition_steps=100, transition_begin=5)),
    (ExponentialDecay, dict(init_value=0.1, transition_steps=0, decay_rate=0.5)),
    (ExponentialDecay, dict(init_value=0.1, transition_steps=10, decay_rate=0.0, end_value=0.5)),
    (ExponentialDecay, dict(init_value=0.1, transition_steps=3, decay_rate=0.5, staircase=True, end_value=0.02)),
    (ExponentialDecay, dict(init_value=0.1, transition_steps=5, decay_rate=1.5, transition_begin=10, end_value=1.0)),
    (ExponentialDecay, dict(init_value=0.1, transition_steps=5, decay_rate=0.9, transition_begin=-3, end_value=0.2)),
    (WarmupConstantSchedule, dict(init_value=0.0, peak_value=0.1, warmup_steps=0)),
    (
        WarmupExponentialDecaySchedule,
        dict(init_value=0.0, peak_value=0.1, warmup_steps=0, transition_steps=4, decay_rate=0.5),
    ),
    (
        WarmupExponentialDecaySchedule,
        dict(init_value=0.01, peak_value=0.1, warmup_steps=8, transition_steps=0, decay_rate=0.5, end_value=0.3),
    ),
    (CosineDecaySchedule, dict(init_value=0.1, decay_steps=1)),
    (CosineDecaySchedule, dict(init_value=0.1, decay_steps=30, alpha=2.0, exponent=3)),
    (CosineDecaySchedule, dict(init_value=0.1, decay_steps=1000, alpha=1e-3, exponent=0.5)),
    (WarmupCosineDecaySchedule, dict(init_value=0.0, peak_value=0.0, warmup_steps=5, decay_steps=20, end_value=0.1)),
    (WarmupCosineDecaySchedule, dict(init_value=0.1, peak_value=1.0, warmup_steps=0, decay_steps=1, end_value=0.01)),
    (
        SGDRSchedule,
        dict(
            cosine_kwargs=[
                dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=20),
                dict(init_value=0.05, peak_value=0.05, warmup_steps=0, decay_steps=1),
                dict(init_value=0.0, peak_value=0.02, warmup_steps=3, decay_steps=10, end_value=1e-3, exponent=2),
            ]
        ),
    ),
    (
        SGDRSchedule,
        dict(cosine_kwargs=[dict(init_value=0.1, peak_value=0.2, warmup_steps=0, decay_steps=25, end_value=0.3)]),
    ),
    (CosineOnecycleSchedule, dict(transition_steps=1, peak_value=0.1)),
    (CosineOnecycleSchedule, dict(transition_steps=10, peak_value=0.1, pct_start=1.0)),
    (CosineOnecycleSchedule, dict(transition_steps=10, peak_value=0.1, pct_start=0.05)),
    (LinearOnecycleSchedule, dict(transition_steps=20, peak_value=0.1, pct_start=0.5, pct_final=0.5)),
    (LinearOnecycleSchedule, dict(transition_steps=20, peak_value=0.1, pct_start=1.0, pct_final=1.0)),
    (LinearOnecycleSchedule, dict(transition_steps=20, peak_value=0.1, pct_start=0.0, pct_final=1.0)),
    (PiecewiseConstantSchedule, dict(init_value=0.1, boundaries_and_scales={})),
    # Three steps each, the size the hypothesis tests use (each size compiles anew).
    (PiecewiseConstantSchedule, dict(init_value=1.0, boundaries_and_scales={0: 0.5, -5: 3.0, 40: 0.0})),
    (
        PiecewiseInterpolateSchedule,
        dict(interpolate_type="linear", init_value=1.0, boundaries_and_scales={4: 0.1, 8: 0.01, 20: 10.0}),
    ),
    (
        PiecewiseInterpolateSchedule,
        dict(interpolate_type="cosine", init_value=0.5, boundaries_and_scales={0: 2.0, 1: 0.5, -3: 0.7}),
    ),
    (PiecewiseInterpolateSchedule, dict(interpolate_type="cosine", init_value=0.1)),
]


@pytest.mark.parametrize("cls,kwargs", EDGES, ids=[f"{i}-{cls.__name__}" for i, (cls, _) in enumerate(EDGES)])
def test_edge_cases(cls, kwargs, precision):
    check_mirror(cls, kwargs, 40)


def test_warmup_cosine_peak_zero_ignores_end_value():
    """optax's `alpha = 0.0 if peak_value == 0.0 else end / peak`: replicated, so the decay is 0."""
    lrs = _trajectory(WarmupCosineDecaySchedule(0.1, 0.0, 5, 20, end_value=0.05), 30)
    assert lrs[0] == np.float32(0.1) and np.all(lrs[5:] == 0.0)


def test_float32_matches_optax_on_its_own_int32_counter():
    """optax's own step counters are `int32` arrays; in float32 they give the same values."""
    cases = [
        (ExponentialDecay, dict(init_value=0.1, transition_steps=3, decay_rate=0.7, transition_begin=2, end_value=0.0)),
        (WarmupCosineDecaySchedule, dict(init_value=0.0, peak_value=0.1, warmup_steps=7, decay_steps=30)),
        (LinearOnecycleSchedule, dict(transition_steps=30, peak_value=0.1)),
        (PiecewiseConstantSchedule, dict(init_value=0.1, boundaries_and_scales={5: 0.5, 20: 0.3, 30: 3.0})),
    ]
    for cls, kwargs in cases:
        fn = MIRRORS[cls](**kwargs)
        reference = np.asarray([np.asarray(fn(jnp.asarray(k, jnp.int32)), np.float32) for k in range(41)])
        np.testing.assert_array_equal(_trajectory(cls(**kwargs), 40), reference, err_msg=cls.__name__)


def test_join_forwards_the_metric_to_a_plateau_piece():
    sched = JoinSchedules([WarmupConstantSchedule(0.0, 0.1, 5), ss.ReduceLROnPlateau(0.1, patience=1, factor=0.5)], [5])
    lrs = []
    for metric in [1.0] * 12:
        sched = sched.step(metric)
        lrs.append(float(sched.lr))
    # Warm-up for 5 steps, then the plateau piece starts at its initial lr and halves.
    np.testing.assert_allclose(
        lrs, [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125], rtol=1e-6
    )


def test_in_torch_style_composites():
    """In a SequentialLR a piece restarts at its milestone; in a ChainedScheduler it overwrites."""
    seq = ss.SequentialLR([WarmupConstantSchedule(0.01, 0.1, 5), CosineDecaySchedule(0.1, 20)], milestones=[5])
    np.testing.assert_array_equal(_trajectory(seq, 30)[5:], _trajectory(CosineDecaySchedule(0.1, 20), 25))
    join = JoinSchedules([ConstantSchedule(0.2), LinearSchedule(0.2, 0.0, 10)], [3])
    chained = ss.ChainedScheduler([ss.StepLR(0.1, step_size=2), join, ss.ExponentialLR(0.1, gamma=0.5)])
    # The join overwrites the StepLR's lr; the ExponentialLR after it halves that once per step.
    expected = _trajectory(join, 12) * np.where(np.arange(13) == 0, 1.0, 0.5)
    np.testing.assert_allclose(_trajectory(chained, 12), expected, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Compiled use


def _sgdr():
    return SGDRSchedule(
        [
            dict(init_value=0.0, peak_value=0.1, warmup_steps=3, decay_steps=15),
            dict(init_value=0.01, peak_value=0.05, warmup_steps=0, decay_steps=20, end_value=0.001, exponent=2),
            dict(init_value=0.0, peak_value=0.03, warmup_steps=5, decay_steps=10, exponent=0.5),
        ]
    )


# One interesting configuration per class, for this module and others.
OPTAX_CASES: list[tuple[str, Callable[[], ss.AbstractScheduler]]] = [
    ("ConstantSchedule", lambda: ConstantSchedule(0.1)),
    ("LinearSchedule", lambda: LinearSchedule(0.1, 0.001, transition_steps=40, transition_begin=5)),
    ("PolynomialSchedule", lambda: PolynomialSchedule(0.1, 0.001, power=2, transition_steps=40, transition_begin=5)),
    (
        "ExponentialDecay",
        lambda: ExponentialDecay(0.1, 7, 0.8, transition_begin=5, staircase=True, end_value=0.01),
    ),
    ("WarmupConstantSchedule", lambda: WarmupConstantSchedule(0.0, 0.1, warmup_steps=15)),
    (
        "WarmupExponentialDecaySchedule",
        lambda: WarmupExponentialDecaySchedule(0.0, 0.1, 10, 5, 0.9, transition_begin=5, end_value=0.02),
    ),
    ("CosineDecaySchedule", lambda: CosineDecaySchedule(0.1, 40, alpha=0.1, exponent=1.5)),
    ("WarmupCosineDecaySchedule", lambda: WarmupCosineDecaySchedule(0.0, 0.1, 10, 50, end_value=0.001)),
    ("SGDRSchedule", _sgdr),
    ("CosineOnecycleSchedule", lambda: CosineOnecycleSchedule(50, 0.1)),
    ("LinearOnecycleSchedule", lambda: LinearOnecycleSchedule(50, 0.1)),
    ("PiecewiseConstantSchedule", lambda: PiecewiseConstantSchedule(0.1, {10: 0.5, 25: 0.2, 40: 0.5})),
    (
        "PiecewiseInterpolateSchedule",
        lambda: PiecewiseInterpolateSchedule("cosine", 0.1, {10: 0.5, 25: 0.2, 40: 0.5}),
    ),
    (
        "JoinSchedules",
        lambda: JoinSchedules(
            [WarmupConstantSchedule(0.0, 0.1, 10), CosineDecaySchedule(0.1, 30), ss.StepLR(0.01, step_size=5)],
            boundaries=[10, 40],
        ),
    ),
]
N_STEPS = 60


def test_cases_cover_every_class():
    assert {type(build()) for _, build in OPTAX_CASES} == set(MIRRORS)


def _signature(sched) -> tuple:
    leaves, treedef = jax.tree.flatten(sched)
    return treedef, [(type(x), jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None)) for x in leaves]


def _assert_close_ulp(actual, expected, maxulp: int = 1):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if not np.array_equal(actual, expected):
        np.testing.assert_array_max_ulp(actual, expected, maxulp=maxulp)


@pytest.mark.parametrize("name,build", OPTAX_CASES, ids=[name for name, _ in OPTAX_CASES])
def test_compiled_use(name, build, precision):
    """Eager == `jax.jit` == `lax.scan` (to 1 ulp; in practice exact), with one trace per run."""
    dtype = _float_dtype()
    sched = build()
    first = _signature(sched)
    treedef, leaves = first
    for kind, _, leaf_dtype, weak in leaves:
        assert issubclass(kind, jax.Array) and weak is False
        assert leaf_dtype == (dtype if jnp.issubdtype(leaf_dtype, jnp.floating) else jnp.int32)
    assert sched.lr.dtype == dtype and sched.lr.shape == () and sched.last_epoch.dtype == jnp.int32

    eager = [sched]
    for _ in range(N_STEPS):
        eager.append(eager[-1].step())
        assert _signature(eager[-1]) == first
    eager_lrs = np.asarray([s.lr for s in eager])
    if name != "ConstantSchedule":
        assert len(np.unique(eager_lrs)) > 1
    if precision == "x64":
        return  # the eager step is compiled code too; the other compiled paths are checked in float32

    def scan(s):
        def body(carry, _):
            carry = carry.step()
            return carry, carry.lr

        return jax.lax.scan(body, s, None, length=N_STEPS)

    run = eqx.filter_jit(eqx.debug.assert_max_traces(scan, max_traces=1))
    final, scan_lrs = run(sched)
    run(build())  # a second scheduler of the same configuration reuses the compiled run
    assert _signature(final) == first and int(final.last_epoch) == N_STEPS
    _assert_close_ulp(np.concatenate([[sched.lr], scan_lrs]), eager_lrs)
    for a, b in zip(jax.tree.leaves(eager[-1]), jax.tree.leaves(final), strict=True):
        _assert_close_ulp(b, a)

    traces = 0

    @jax.jit
    def step(s):
        nonlocal traces
        traces += 1
        return s.step()

    jitted = [sched]
    for _ in range(N_STEPS):
        jitted.append(step(jitted[-1]))
    assert traces == 1 and _signature(jitted[-1]) == first
    _assert_close_ulp(np.asarray([s.lr for s in jitted]), eager_lrs)


# Closed over by a jitted function (as `statefulsched.optax.to_schedule` does), a
# scheduler's arrays are compile-time constants, which XLA would fold into reciprocals,
# FMAs and `x * x`, and the compiler knows the count is `>= 0`; evaluated at one count or
# at every count at once, it must still give the eager values.
CLOSED_OVER = [
    ("PolynomialSchedule-float_power", lambda: PolynomialSchedule(0.1, 0.001, 2.0, 40, 5)),  # `pow(x, 2.0)`
    *[(name, build) for name, build in OPTAX_CASES if name in ("WarmupCosineDecaySchedule", "LinearOnecycleSchedule")],
]


@pytest.mark.parametrize("name,build", CLOSED_OVER, ids=[name for name, _ in CLOSED_OVER])
def test_closed_over_evaluation(name, build):
    sched = build()

    def at(count):
        return replace(sched, last_epoch=jnp.maximum(count, 0) - 1)._advance(None).lr

    eager_lrs = _trajectory(sched, N_STEPS)
    counts = jnp.arange(N_STEPS + 1, dtype=jnp.int32)
    _assert_close_ulp(jax.jit(jax.vmap(at))(counts), eager_lrs)
    one_at_a_time = jax.jit(at)
    _assert_close_ulp(np.asarray([one_at_a_time(count) for count in counts]), eager_lrs)


# Pairs of schedulers of one class with different hyperparameter values: numeric
# hyperparameters are array leaves, so a compiled run is reused for both.
RETRACE_PAIRS = [
    (
        lambda: WarmupCosineDecaySchedule(0.0, 0.1, 10, 100),
        lambda: WarmupCosineDecaySchedule(0.01, 0.5, 30, 300, end_value=1e-4, exponent=2.0),
    ),
    (lambda: ExponentialDecay(0.1, 10, 0.9), lambda: ExponentialDecay(1.0, 0, 1.5, transition_begin=-3)),
    (lambda: PiecewiseConstantSchedule(0.1, {10: 0.5}), lambda: PiecewiseConstantSchedule(3.0, {-2: 0.1})),
    (lambda: LinearOnecycleSchedule(50, 0.1), lambda: LinearOnecycleSchedule(7, 2.0, 1.0, 1.0, 3.0, 5.0)),
]


@pytest.mark.parametrize("pair", RETRACE_PAIRS, ids=lambda pair: type(pair[0]()).__name__)
def test_scanned_run_traces_once_for_any_values(pair):
    traces = 0

    @jax.jit
    def run(s):
        nonlocal traces
        traces += 1
        return jax.lax.scan(lambda c, _: (c.step(), c.lr), s, None, length=20)

    for build in pair:
        final, lrs = run(build())
        np.testing.assert_array_equal(np.asarray(lrs), _trajectory(build(), 19))
    assert traces == 1


# Built under `jax.vmap` over one hyperparameter; each member must match the scheduler
# built alone from its value. Exact where the member's constants are computed the same
# way; a traced value is used in the working dtype where a Python float would be combined
# in float64 first (e.g. `peak_value / div_factor`), hence the ulp allowances.
VMAP_CASES: list[tuple[str, Callable, Any, int]] = [
    ("WarmupCosineDecaySchedule-peak_value", lambda p: WarmupCosineDecaySchedule(0.0, p, 10, 100), [0.0, 0.1, 0.7], 0),
    (
        "WarmupCosineDecaySchedule-end_value",
        lambda e: WarmupCosineDecaySchedule(0.01, 0.3, 5, 40, end_value=e),
        [0.0, 1e-3, 0.2],
        2,
    ),
    ("WarmupCosineDecaySchedule-warmup_steps", lambda w: WarmupCosineDecaySchedule(0.0, 0.3, w, 60), [0, 5, 20], 0),
    ("ExponentialDecay-decay_rate", lambda r: ExponentialDecay(0.1, 7, r, 3, False, 0.01), [0.0, 0.5, 0.9, 1.1], 0),
    ("LinearOnecycleSchedule-pct_start", lambda p: LinearOnecycleSchedule(50, 0.1, p, 0.8), [0.0, 0.3, 0.8], 2),
    (
        "PiecewiseInterpolateSchedule-scale",
        lambda s: PiecewiseInterpolateSchedule("cosine", 0.1, {10: s, 30: 0.5}),
        [0.1, 2.0],
        0,
    ),
    (
        "SGDRSchedule-peak_value",
        lambda p: SGDRSchedule([dict(init_value=0.0, peak_value=p, warmup_steps=3, decay_steps=20)] * 3),
        [0.1, 0.4],
        0,
    ),
    (
        "JoinSchedules-boundaries",
        lambda b: JoinSchedules([ConstantSchedule(0.1), CosineDecaySchedule(0.2, 30), ConstantSchedule(0.01)], b),
        [[0, 0], [10, 25], [40, 41]],
        0,
    ),
]


@pytest.mark.parametrize("name,build,values,maxulp", VMAP_CASES, ids=[case[0] for case in VMAP_CASES])
def test_vmap_construction_matches_members(name, build, values, maxulp):
    @jax.jit  # one compilation for the whole batched run, rather than one per eager op
    def run(array):
        batch = jax.vmap(build)(array)

        def body(b, _):
            b = jax.vmap(lambda s: s.step())(b)
            return b, b.lr

        return batch, jax.lax.scan(body, batch, None, length=N_STEPS)[1]

    batch, lrs = run(jnp.asarray(values))
    assert batch.last_epoch.shape == (len(values),)
    lrs = np.concatenate([np.asarray(batch.lr)[None], np.asarray(lrs)])
    distinct = set()
    for i, value in enumerate(values):
        member = _trajectory(build(value), N_STEPS)
        if maxulp:
            _assert_close_ulp(lrs[:, i], member, maxulp=maxulp)
        else:
            np.testing.assert_array_equal(lrs[:, i], member)
        distinct.add(member.tobytes())
    assert len(distinct) == len(values)


# ---------------------------------------------------------------------------------------
# Validation


INVALID = [
    (lambda: ConstantSchedule(float("nan")), r"`ConstantSchedule\(value=\.\.\.\)` must be a finite number, got nan\."),
    (lambda: ConstantSchedule([0.1, 0.2]), r"`ConstantSchedule\(value=\.\.\.\)` must be a single number"),
    (
        lambda: LinearSchedule(0.1, 0.0, 2.5),
        r"`LinearSchedule\(transition_steps=\.\.\.\)` must be an integer, got 2\.5\.",
    ),
    (lambda: LinearSchedule(0.1, 0.0, 10, True), r"`LinearSchedule\(transition_begin=\.\.\.\)` must be an integer"),
    (
        lambda: PolynomialSchedule(0.1, 0.0, -1.0, 10),
        r"`PolynomialSchedule\(power=\.\.\.\)` must be a finite number in \[0, inf\), got -1\.0\.",
    ),
    (
        lambda: ExponentialDecay(0.1, 10, -0.5),
        r"`ExponentialDecay\(decay_rate=\.\.\.\)` must be a finite number in \[0, inf\), got -0\.5\.",
    ),
    (lambda: ExponentialDecay(0.1, 10, 0.5, staircase="yes"), r"`ExponentialDecay\(staircase=\.\.\.\)` must be True"),
    (lambda: ExponentialDecay(0.1, 10, 0.5, end_value=float("inf")), r"`ExponentialDecay\(end_value=\.\.\.\)`"),
    (lambda: ExponentialDecay(0.1, 2**31, 0.5), r"`ExponentialDecay\(transition_steps=\.\.\.\)` must be an integer in"),
    (
        lambda: WarmupConstantSchedule(0.0, 0.1, -1),
        r"`WarmupConstantSchedule\(warmup_steps=\.\.\.\)` must be an integer >= 0, got -1\.",
    ),
    (
        lambda: WarmupExponentialDecaySchedule(0.0, 0.1, -2, 10, 0.5),
        r"`WarmupExponentialDecaySchedule\(warmup_steps=\.\.\.\)` must be an integer >= 0, got -2\.",
    ),
    (
        lambda: CosineDecaySchedule(0.1, 0),
        r"`CosineDecaySchedule\(decay_steps=\.\.\.\)` must be a positive integer, got 0\.",
    ),
    (lambda: CosineDecaySchedule(0.1, 10, exponent=-1.0), r"`CosineDecaySchedule\(exponent=\.\.\.\)` must be a finite"),
    (
        lambda: WarmupCosineDecaySchedule(0.0, 0.1, -3, 100),
        r"`WarmupCosineDecaySchedule\(warmup_steps=\.\.\.\)` must be an integer >= 0, got -3\.",
    ),
    (
        lambda: WarmupCosineDecaySchedule(0.0, 0.1, 10, 10),
        r"`WarmupCosineDecaySchedule\(decay_steps=\.\.\.\)` must be greater than `warmup_steps`.*got 10 <= 10\.",
    ),
    (lambda: SGDRSchedule([]), r"`SGDRSchedule\(cosine_kwargs=\.\.\.\)` must be a non-empty list"),
    (lambda: SGDRSchedule(dict(init_value=0.0)), r"`SGDRSchedule\(cosine_kwargs=\.\.\.\)` must be a list of dicts"),
    (
        lambda: SGDRSchedule([dict(init_value=0.0, peak_value=0.1, warmup_steps=1, decay_steps=5, alpha=0.1)]),
        r"`SGDRSchedule\(cosine_kwargs\[0\]=\.\.\.\)` must give .* unknown \['alpha'\]",
    ),
    (
        lambda: SGDRSchedule([dict(init_value=0.0, peak_value=0.1, decay_steps=5)]),
        r"missing \['warmup_steps'\]",
    ),
    (
        lambda: SGDRSchedule(
            [
                dict(init_value=0.0, peak_value=0.1, warmup_steps=1, decay_steps=5),
                dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=5),
            ]
        ),
        r"`SGDRSchedule\(cosine_kwargs\[1\]\['decay_steps'\]=\.\.\.\)` must be greater than `warmup_steps`",
    ),
    (
        lambda: CosineOnecycleSchedule(0, 0.1),
        r"`CosineOnecycleSchedule\(transition_steps=\.\.\.\)` must be a positive integer, got 0\.",
    ),
    (
        lambda: CosineOnecycleSchedule(10, 0.1, pct_start=1.5),
        r"`CosineOnecycleSchedule\(pct_start=\.\.\.\)` must be a finite number in \[0, 1\], got 1\.5\.",
    ),
    (
        lambda: CosineOnecycleSchedule(10, 0.1, div_factor=0.0),
        r"`CosineOnecycleSchedule\(div_factor=\.\.\.\)` must be a finite number in \(0, inf\), got 0\.0\.",
    ),
    (
        lambda: LinearOnecycleSchedule(100, 0.1, pct_start=0.9, pct_final=0.5),
        r"`LinearOnecycleSchedule\(pct_final=\.\.\.\)` must be at least `pct_start` \(0\.9\), got 0\.5\.",
    ),
    (
        lambda: PiecewiseConstantSchedule(0.1, {5: -0.1}),
        r"`PiecewiseConstantSchedule\(boundaries_and_scales\[5\]=\.\.\.\)` must be a finite number in \[0, inf\)",
    ),
    (
        lambda: PiecewiseConstantSchedule(0.1, {5: float("inf")}),
        r"`PiecewiseConstantSchedule\(boundaries_and_scales\[5\]=\.\.\.\)` must be a finite number",
    ),
    (
        lambda: PiecewiseConstantSchedule(0.1, {2.5: 0.1}),
        r"`PiecewiseConstantSchedule\(boundaries_and_scales=\.\.\.\)` must be a dict with integer steps as keys",
    ),
    (lambda: PiecewiseConstantSchedule(0.1, [(5, 0.1)]), r"must be a dict `\{step: scale\}` or None"),
    (lambda: PiecewiseConstantSchedule(1e30, {5: 1e10}), r"`PiecewiseConstantSchedule`: the product .* overflows"),
    (
        lambda: PiecewiseInterpolateSchedule("quadratic", 0.1),
        r"`PiecewiseInterpolateSchedule\(interpolate_type=\.\.\.\)` must be one of 'linear', 'cosine', got 'quadratic'",
    ),
    (lambda: JoinSchedules([], []), r"`JoinSchedules\(schedules=\.\.\.\)` must be a non-empty list of schedulers"),
    (lambda: JoinSchedules([optax.constant_schedule(0.1)], []), r"must contain statefulsched schedulers; item 0"),
    (
        lambda: JoinSchedules([ConstantSchedule(0.1), ConstantSchedule(0.2)], []),
        r"`JoinSchedules\(boundaries=\.\.\.\)` must be a list of 1 non-decreasing integers >= 0",
    ),
    (
        lambda: JoinSchedules([ConstantSchedule(0.1)] * 3, [10, 5]),
        r"`JoinSchedules\(boundaries=\.\.\.\)` must be .* non-decreasing .*, got \[10, 5\]\.",
    ),
    (lambda: JoinSchedules([ConstantSchedule(0.1)] * 2, [-1]), r"`JoinSchedules\(boundaries=\.\.\.\)`.*got \[-1\]\."),
    (
        lambda: JoinSchedules([ss.StepLR([0.1, 0.2], step_size=3), ConstantSchedule(0.1)], [5]),
        r"item 0 \(StepLR\) has 2 param groups",
    ),
]


@pytest.mark.parametrize("build,message", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_join_children_must_agree_in_dtype(x64):
    wide = ConstantSchedule(0.1)
    jax.config.update("jax_enable_x64", False)
    narrow = ConstantSchedule(0.1)
    with pytest.raises(ValueError, match=r"different dtypes \(\['float32', 'float64'\]\)"):
        JoinSchedules([wide, narrow], [5])


@pytest.mark.parametrize(
    "build,values,param",
    [
        (lambda w: WarmupCosineDecaySchedule(0.0, 0.1, w, 100), [5, -3], "warmup_steps"),
        (lambda d: WarmupCosineDecaySchedule(0.0, 0.1, 10, d), [20, 10], "decay_steps"),
        (lambda r: ExponentialDecay(0.1, 10, r), [0.5, -0.5], "decay_rate"),
        (lambda p: LinearOnecycleSchedule(100, 0.1, 0.3, p), [0.5, 0.2], "pct_final"),
        (lambda b: JoinSchedules([ConstantSchedule(0.1)] * 3, b), [[1, 2], [5, 4]], "boundaries"),
    ],
    ids=["warmup_steps", "decay_steps", "decay_rate", "pct_final", "boundaries"],
)
def test_traced_invalid_value_raises_at_runtime(build, values, param):
    """Built under `jax.vmap` (and `jax.jit`), a bad member raises instead of giving a NaN lr."""
    good, bad = jnp.asarray(values[:1] * 2), jnp.asarray(values)
    batch = jax.jit(jax.vmap(build))
    assert np.isfinite(np.asarray(batch(good).lr)).all()
    with pytest.raises(RUNTIME_ERRORS, match=rf"\({param}=\.\.\.\)"):
        jax.block_until_ready(batch(bad).lr)
