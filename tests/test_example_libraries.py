"""The schedules of `jax.example_libraries.optimizers` as schedulers.

Differential tests against the real jax functions: after `k` steps a scheduler's `lr` equals the
jax function evaluated (eagerly) at the integer array `k`, bit for bit, in float32 and under x64.
Then the compiled-use checks every scheduler gets (eager == jit == scan, a stable strongly typed
pytree, one trace per run, `vmap` over hyperparameters), and argument validation.
"""

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
from jax.example_libraries import optimizers

from statefulsched._schedulers.example_libraries import (
    Constant,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstant,
    PolynomialDecay,
    make_schedule,
)
from statefulsched._schedulers.function import FunctionScheduler

SETTINGS = settings(
    max_examples=int(os.environ.get("SS_HYPOTHESIS_EXAMPLES", "20")),
    deadline=None,
    derandomize=True,
    # The float mode is a (function-scoped) fixture shared by all examples of a test on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# The error classes Equinox's runtime checks surface as, across JAX/Equinox releases.
RUNTIME_ERRORS = (ValueError, RuntimeError)

# A module-level function, so every FunctionScheduler built from it shares one compiled step.
_WARMUP_COSINE = optax.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=10, decay_steps=60, end_value=1e-3)

# One configuration of each class, for other test modules (e.g. a table of every scheduler).
EXAMPLE_LIBRARIES_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("ExponentialDecay", lambda: ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)),
    ("InverseTimeDecay", lambda: InverseTimeDecay(0.1, decay_steps=7, decay_rate=0.8, staircase=True)),
    ("PolynomialDecay", lambda: PolynomialDecay(0.1, decay_steps=40, final_step_size=1e-3, power=2)),
    ("PiecewiseConstant", lambda: PiecewiseConstant([5, 20, 40], [0.1, 0.05, 0.01, 0.001])),
    ("Constant", lambda: Constant(0.1)),
    ("FunctionScheduler", lambda: FunctionScheduler(_WARMUP_COSINE)),
]
_VARIANTS: list[tuple[str, Callable[[], Any]]] = [
    ("InverseTimeDecay-smooth", lambda: InverseTimeDecay(0.1, decay_steps=7.5, decay_rate=0.8)),
    ("PolynomialDecay-float_power-warmup", lambda: PolynomialDecay(1e-3, 30, final_step_size=0.1, power=0.5)),
    ("PiecewiseConstant-no_boundaries", lambda: PiecewiseConstant([], [0.1])),
]
CASES = EXAMPLE_LIBRARIES_CASES + _VARIANTS
_CONSTANT_CASES = {"Constant", "PiecewiseConstant-no_boundaries"}
N_STEPS = 60


def _float_dtype():
    return jnp.dtype(jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


def _eager_lrs(sched, n: int) -> np.ndarray:
    """The lr after construction and after each of `n` eager steps."""
    lrs = [sched.lr]
    for _ in range(n):
        sched = sched.step()
        lrs.append(sched.lr)
    assert int(sched.last_epoch) == n
    return np.asarray(lrs)


def _jax_lrs(fn, n: int) -> np.ndarray:
    """The jax function at the counts `0..n`, given as arrays of the default integer dtype."""
    values = [fn(jnp.asarray(k)) for k in range(n + 1)]
    if isinstance(values[0], jax.Array):
        assert values[0].dtype == _float_dtype()
    return np.asarray(values, dtype=_float_dtype())


def _assert_same_array(actual, expected, maxulp: int = 0):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual, expected)
    if maxulp == 0:
        np.testing.assert_array_equal(actual, expected)
    elif not np.array_equal(actual, expected):
        np.testing.assert_array_max_ulp(actual, expected, maxulp=maxulp)


def _matches_jax(sched, fn, n: int):
    ours = _eager_lrs(sched, n)
    assert ours.dtype == _float_dtype()
    _assert_same_array(ours, _jax_lrs(fn, n))


# ----------------------------------------------------------------------------------------
# Differential tests against jax.example_libraries.optimizers

_LR = st.floats(1e-5, 10.0)
_REAL_DECAY_STEPS = st.one_of(st.integers(1, 400), st.floats(0.5, 400.0))


@SETTINGS
@given(step_size=_LR, decay_steps=_REAL_DECAY_STEPS, decay_rate=st.floats(0.05, 2.0), n=st.integers(50, 150))
def test_exponential_decay_matches_jax(float_mode, step_size, decay_steps, decay_rate, n):
    sched = ExponentialDecay(step_size, decay_steps, decay_rate)
    _matches_jax(sched, optimizers.exponential_decay(step_size, decay_steps, decay_rate), n)


@SETTINGS
@given(
    step_size=_LR,
    decay_steps=_REAL_DECAY_STEPS,
    decay_rate=st.one_of(st.just(0.0), st.floats(1e-3, 5.0)),
    staircase=st.booleans(),
    n=st.integers(50, 150),
)
def test_inverse_time_decay_matches_jax(float_mode, step_size, decay_steps, decay_rate, staircase, n):
    sched = InverseTimeDecay(step_size, decay_steps, decay_rate, staircase=staircase)
    _matches_jax(sched, optimizers.inverse_time_decay(step_size, decay_steps, decay_rate, staircase=staircase), n)


@SETTINGS
@given(
    step_size=_LR,
    decay_steps=st.integers(1, 150),
    final_step_size=st.one_of(st.just(0.0), _LR),
    # An int power goes through `lax.integer_pow` in jax, a float one through `lax.pow`.
    power=st.one_of(st.integers(0, 6), st.just(0.0), st.floats(1e-3, 6.0)),
    n=st.integers(50, 150),
)
def test_polynomial_decay_matches_jax(float_mode, step_size, decay_steps, final_step_size, power, n):
    sched = PolynomialDecay(step_size, decay_steps, final_step_size, power=power)
    _matches_jax(sched, optimizers.polynomial_decay(step_size, decay_steps, final_step_size, power=power), n)


@st.composite
def _piecewise(draw):
    boundaries = sorted(draw(st.lists(st.integers(0, 55), max_size=4, unique=True)))
    values = draw(st.lists(st.one_of(st.just(0.0), _LR), min_size=len(boundaries) + 1, max_size=len(boundaries) + 1))
    return boundaries, values


@SETTINGS
@given(config=_piecewise())
def test_piecewise_constant_matches_jax(float_mode, config):
    boundaries, values = config
    _matches_jax(PiecewiseConstant(boundaries, values), optimizers.piecewise_constant(boundaries, values), 60)


@SETTINGS
@given(step_size=st.one_of(st.just(0.0), _LR))
def test_constant_matches_jax(float_mode, step_size):
    _matches_jax(Constant(step_size), optimizers.constant(step_size), 50)


def test_polynomial_decay_integer_and_float_power_follow_jnp_power(float_mode):
    # `x ** 3` is `(x * x) * x` and `x ** 3.0` is `lax.pow` in jax: both are matched,
    # and they do differ somewhere (so the distinction is not vacuous).
    by_int = _eager_lrs(PolynomialDecay(0.1, 200, 0.0, power=3), 200)
    by_float = _eager_lrs(PolynomialDecay(0.1, 200, 0.0, power=3.0), 200)
    _assert_same_array(by_int, _jax_lrs(optimizers.polynomial_decay(0.1, 200, 0.0, power=3), 200))
    _assert_same_array(by_float, _jax_lrs(optimizers.polynomial_decay(0.1, 200, 0.0, power=3.0), 200))
    assert not np.array_equal(by_int, by_float)
    np.testing.assert_array_max_ulp(by_int, by_float, maxulp=2)


def test_polynomial_decay_stays_at_final_step_size():
    lrs = _eager_lrs(PolynomialDecay(0.1, 10, 0.01, power=0.5), 30)
    assert lrs[0] == np.float32(0.1)
    np.testing.assert_array_equal(lrs[10:], np.float32(0.01))
    assert np.all(np.diff(lrs[:11]) < 0)


def test_float_decay_steps_like_user_code(float_mode):
    # `decay_steps=1000.` as often written: a real divisor for the exponential and
    # inverse-time decays, an integral float accepted as the integer for the polynomial one.
    _matches_jax(ExponentialDecay(0.1, 1000.0, 0.5), optimizers.exponential_decay(0.1, 1000.0, 0.5), 60)
    _matches_jax(InverseTimeDecay(0.1, 12.5, 2.0), optimizers.inverse_time_decay(0.1, 12.5, 2.0), 60)
    sched = PolynomialDecay(0.1, 40.0, 0.0, power=2.0)
    assert sched.decay_steps.dtype == jnp.int32
    _matches_jax(sched, optimizers.polynomial_decay(0.1, 40.0, 0.0, power=2.0), 60)


# The schedules of the tutorial (Fashion MNIST, 10 epochs of 235 batches): per epoch and per batch.
_EPOCHS = 10
_TOTAL_BATCHES = _EPOCHS * (60_000 // 256) + _EPOCHS
_TUTORIAL = [
    (lambda m: m.exponential_decay(0.0001, _EPOCHS, 0.9), _EPOCHS),
    (lambda m: m.exponential_decay(0.0001, _TOTAL_BATCHES, 0.99), _TOTAL_BATCHES),
    (lambda m: m.inverse_time_decay(0.0001, _EPOCHS, 0.8, staircase=True), _EPOCHS),
    (lambda m: m.inverse_time_decay(0.0001, _TOTAL_BATCHES, 0.99, staircase=True), _TOTAL_BATCHES),
    (lambda m: m.polynomial_decay(0.0001, _EPOCHS, 0.00001, power=0.3), _EPOCHS),
    (lambda m: m.piecewise_constant([1, 4, 7], [0.0003, 0.0002, 0.0001, 0.00001]), _EPOCHS),
]


class _Ours:
    """`jax.example_libraries.optimizers`'s schedule functions, spelt with our classes."""

    exponential_decay = ExponentialDecay
    inverse_time_decay = InverseTimeDecay
    polynomial_decay = PolynomialDecay
    piecewise_constant = PiecewiseConstant


@pytest.mark.parametrize(("build", "steps"), _TUTORIAL)
def test_tutorial_schedules(build, steps, float_mode):
    # The same call with `optimizers` replaced by our classes.
    ours = _eager_lrs(build(_Ours), steps)
    fn = build(optimizers)
    # Exactly jax's value at an integer array count ...
    _assert_same_array(ours, _jax_lrs(fn, steps))
    # ... and the tutorial's plotted `[fn(step) for step in range(n)]`, where a Python int
    # count makes jax compute the exponential and inverse-time decays in Python floats
    # (float64): within float32 rounding of the exponent, or one float64 ulp under x64.
    python = np.asarray([fn(k) for k in range(steps + 1)], dtype=np.float64)
    if float_mode == "x64":
        np.testing.assert_array_max_ulp(ours, python, maxulp=1)
    else:
        np.testing.assert_allclose(ours, python, rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------------------
# Compiled use: eager == jit == scan, a stable pytree, one trace per run, vmap


def _signature(sched) -> tuple:
    leaves, treedef = jax.tree.flatten(sched)
    return treedef, [(type(x), jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None)) for x in leaves]


def _step(sched):
    return sched.step()


_JIT_STEP = jax.jit(_step)


def _scan(start, n: int, step: Callable = _step) -> tuple[Any, jax.Array]:
    """`n` steps in `lax.scan`: the final scheduler and the lr after each step."""

    def body(s, _):
        s = step(s)
        return s, s.lr

    return jax.lax.scan(body, start, None, length=n)


@pytest.mark.parametrize(("name", "build"), CASES, ids=[name for name, _ in CASES])
def test_eager_jit_and_scan_agree(name, build, float_mode):
    eager = _eager_lrs(build(), N_STEPS)
    sched, jitted = build(), [build().lr]
    for _ in range(N_STEPS):
        sched = _JIT_STEP(sched)
        jitted.append(sched.lr)
    final, scanned = _scan(build(), N_STEPS)
    # Built inside a jitted function, its hyperparameters are constants, which XLA would fold
    # and rewrite (`x / c` into `x * (1 / c)`) if they were not kept behind a barrier.
    inside = jax.jit(lambda: _scan(build(), N_STEPS)[1])()
    # The same arithmetic in every context, so exactly equal (the house tolerance is 1 ulp).
    _assert_same_array(np.asarray(jitted), eager, maxulp=1)
    _assert_same_array(scanned, eager[1:], maxulp=1)
    _assert_same_array(inside, eager[1:], maxulp=1)
    assert int(sched.last_epoch) == int(final.last_epoch) == N_STEPS
    for a, b in zip(jax.tree.leaves(sched), jax.tree.leaves(final), strict=True):
        _assert_same_array(a, b, maxulp=1)
    assert name in _CONSTANT_CASES or len(np.unique(eager)) > 1


@pytest.mark.parametrize(("name", "build"), CASES, ids=[name for name, _ in CASES])
def test_pytree_is_stable_and_strongly_typed(name, build, float_mode):
    sched = build()
    first = _signature(sched)
    for kind, _, dtype, weak in first[1]:
        assert issubclass(kind, jax.Array) and weak is False
        assert dtype == (_float_dtype() if jnp.issubdtype(dtype, jnp.floating) else jnp.int32)
    assert sched.lr.shape == () and sched.lr.dtype == _float_dtype()
    assert sched.last_epoch.shape == () and sched.last_epoch.dtype == jnp.int32
    eager = jitted = sched
    for _ in range(20):
        eager, jitted = eager.step(), _JIT_STEP(jitted)
        assert _signature(eager) == first
        assert _signature(jitted) == first
    # Built inside `jax.jit` (traced, nothing compiled), it has the same pytree.
    traced = jax.eval_shape(build)
    assert jax.tree.structure(traced) == first[0]
    for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(sched), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)


@pytest.mark.parametrize(("name", "build"), CASES, ids=[name for name, _ in CASES])
def test_a_run_traces_once(name, build):
    traces = 0

    @jax.jit
    def step(sched):
        nonlocal traces
        traces += 1
        return sched.step()

    sched = build()
    for _ in range(N_STEPS):
        sched = step(sched)
    assert traces == 1 and int(sched.last_epoch) == N_STEPS

    # A whole scanned run, jitted, run twice on fresh schedulers: one trace.
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def run(start):
        return _scan(start, N_STEPS)[1]

    first, second = run(build()), run(build())
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    assert eqx.debug.get_num_traces(run) == 1


@pytest.mark.parametrize("decay_steps", [7, 1000])
def test_polynomial_decay_built_inside_jit_ends_at_final_step_size(decay_steps):
    # Folded, `1 - t * (1 / T)` at `t = T` is a tiny positive or negative number, and with
    # `power=0.1` the lr would end at 17% of `step_size`, or at NaN.
    lrs = jax.jit(lambda: _scan(PolynomialDecay(0.1, decay_steps, 0.0, power=0.1), decay_steps + 2)[1])()
    np.testing.assert_array_equal(lrs[decay_steps - 1 :], 0.0)
    assert np.all(np.asarray(lrs[: decay_steps - 1]) > 0)


# (id, build from one hyperparameter, values): the batch equals its members exactly.
VMAP_CASES = [
    ("ExponentialDecay-decay_rate", lambda r: ExponentialDecay(0.1, 10, r), np.array([0.5, 0.9, 1.1])),
    ("ExponentialDecay-decay_steps", lambda n: ExponentialDecay(0.1, n, 0.5), np.array([1.0, 7.5, 30.0])),
    ("InverseTimeDecay-decay_rate", lambda r: InverseTimeDecay(0.1, 10, r), np.array([0.0, 0.5, 3.0])),
    ("PolynomialDecay-power", lambda p: PolynomialDecay(0.1, 40, 1e-3, power=p), np.array([0.0, 0.5, 3.0])),
    (
        "PolynomialDecay-decay_steps",
        lambda n: PolynomialDecay(0.1, n, 1e-3, power=2.0),
        np.array([1, 25, 90], np.int32),
    ),
    ("PolynomialDecay-final_step_size", lambda f: PolynomialDecay(0.1, 40, f, power=2.0), np.array([0.0, 1e-3, 0.3])),
    (
        "PiecewiseConstant-boundaries",
        lambda b: PiecewiseConstant(b, [0.1, 0.01, 0.001]),
        np.array([[0, 10], [5, 50], [30, 31]], np.int32),
    ),
    (
        "PiecewiseConstant-values",
        lambda v: PiecewiseConstant([10, 40], v),
        np.array([[0.1, 0.01, 0.001], [1.0, 0.5, 0.0]]),
    ),
]


@pytest.mark.parametrize(("name", "build", "values"), VMAP_CASES, ids=[c[0] for c in VMAP_CASES])
def test_vmap_batch_matches_members(name, build, values):
    # Members get the values as rounded in the batch: `PolynomialDecay` subtracts a traced
    # `final_step_size` in the working dtype, a Python one in float64 (as jax does), which
    # agree exactly when both start from the same rounded values.
    if np.issubdtype(values.dtype, np.floating):
        values = values.astype(_float_dtype())
    batch = jax.jit(jax.vmap(build))(jnp.asarray(values))
    assert batch.last_epoch.shape == (len(values),)
    final, lrs = _scan(batch, N_STEPS, step=jax.vmap(_step))
    lrs = np.concatenate([np.asarray(batch.lr)[None], np.asarray(lrs)])
    distinct = set()
    for i, value in enumerate(values):
        member = build(value.tolist())
        member_lrs = _eager_lrs(member, N_STEPS)
        _assert_same_array(lrs[:, i], member_lrs)
        final_i = jax.tree.map(lambda x: x[i], final)
        assert jax.tree.structure(final_i) == jax.tree.structure(member)
        distinct.add(member_lrs.tobytes())
    assert len(distinct) == len(values)


def test_vmap_construction_under_jit():
    @jax.jit
    def lrs(rates):
        batch = jax.vmap(lambda r: InverseTimeDecay(0.1, 10, r))(rates)
        return jax.lax.scan(lambda b, _: (b.step(), b.step().lr), batch, None, length=5)[1]

    out = lrs(jnp.array([0.5, 2.0]))
    assert out.shape == (5, 2)
    np.testing.assert_array_equal(out[0], [InverseTimeDecay(0.1, 10, r).step().lr for r in (0.5, 2.0)])


# ----------------------------------------------------------------------------------------
# Validation


def _assert_message(excinfo, call: str, param: str, shown: str | None):
    message = str(excinfo.value)
    assert f"`{call}({param}=...)`" in message, message
    if shown is not None:
        assert f"got {shown}" in message, message


@pytest.mark.parametrize(
    ("build", "call", "param", "shown"),
    [
        (lambda: ExponentialDecay(0.1, 0, 0.5), "ExponentialDecay", "decay_steps", "0"),
        (lambda: ExponentialDecay(0.1, -10.0, 0.5), "ExponentialDecay", "decay_steps", "-10.0"),
        (lambda: ExponentialDecay(0.1, 10, -0.5), "ExponentialDecay", "decay_rate", "-0.5"),
        (lambda: ExponentialDecay(0.1, 10, 0.0), "ExponentialDecay", "decay_rate", "0.0"),
        (lambda: ExponentialDecay(-0.1, 10, 0.5), "ExponentialDecay", "step_size", "-0.1"),
        (lambda: ExponentialDecay(float("nan"), 10, 0.5), "ExponentialDecay", "step_size", "nan"),
        (lambda: ExponentialDecay([0.1, 0.2], 10, 0.5), "ExponentialDecay", "step_size", "[0.1, 0.2]"),
        (lambda: ExponentialDecay("0.1", 10, 0.5), "ExponentialDecay", "step_size", "'0.1'"),
        (lambda: InverseTimeDecay(0.1, 0, 0.5), "InverseTimeDecay", "decay_steps", "0"),
        (lambda: InverseTimeDecay(0.1, 10, -0.1), "InverseTimeDecay", "decay_rate", "-0.1"),
        (lambda: InverseTimeDecay(0.1, 10, float("inf")), "InverseTimeDecay", "decay_rate", "inf"),
        (lambda: InverseTimeDecay(0.1, 10, 0.5, staircase="yes"), "InverseTimeDecay", "staircase", "'yes'"),
        (lambda: InverseTimeDecay(0.1, 10, 0.5, staircase=1), "InverseTimeDecay", "staircase", "1"),
        (lambda: PolynomialDecay(0.1, 0, 0.01), "PolynomialDecay", "decay_steps", "0"),
        (lambda: PolynomialDecay(0.1, 10.5, 0.01), "PolynomialDecay", "decay_steps", "10.5"),
        (lambda: PolynomialDecay(0.1, 10, 0.01, power=-1.0), "PolynomialDecay", "power", "-1.0"),
        (lambda: PolynomialDecay(0.1, 10, -0.01), "PolynomialDecay", "final_step_size", "-0.01"),
        (lambda: PiecewiseConstant([5, 3], [0.1, 0.2, 0.3]), "PiecewiseConstant", "boundaries", "[5, 3]"),
        (lambda: PiecewiseConstant([3, 3], [0.1, 0.2, 0.3]), "PiecewiseConstant", "boundaries", "[3, 3]"),
        (lambda: PiecewiseConstant([-1, 3], [0.1, 0.2, 0.3]), "PiecewiseConstant", "boundaries", "[-1, 3]"),
        (lambda: PiecewiseConstant([1.5], [0.1, 0.2]), "PiecewiseConstant", "boundaries", "[1.5]"),
        (lambda: PiecewiseConstant(3, [0.1, 0.2]), "PiecewiseConstant", "boundaries", "3"),
        (lambda: PiecewiseConstant([1], [0.1, -0.2]), "PiecewiseConstant", "values", "[0.1, -0.2]"),
        (lambda: PiecewiseConstant([1], 0.1), "PiecewiseConstant", "values", "0.1"),
        (lambda: Constant(-1.0), "Constant", "step_size", "-1.0"),
        (lambda: Constant(None), "Constant", "step_size", "None"),
        (lambda: make_schedule("0.1"), "make_schedule", "scalar_or_schedule", "'0.1'"),
        (lambda: make_schedule([0.1, 0.2]), "make_schedule", "scalar_or_schedule", "[0.1, 0.2]"),
        (lambda: make_schedule(True), "make_schedule", "scalar_or_schedule", "True"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_invalid_arguments_are_rejected(build, call, param, shown):
    with pytest.raises(ValueError, match="must be") as excinfo:
        build()
    _assert_message(excinfo, call, param, shown)


@pytest.mark.parametrize(
    ("boundaries", "values"), [([1, 2], [0.1, 0.2]), ([1], [0.1, 0.2, 0.3]), ([], []), ([4], [0.1])]
)
def test_piecewise_constant_needs_one_more_value_than_boundaries(boundaries, values):
    with pytest.raises(ValueError, match=r"`PiecewiseConstant\(values=\.\.\.\)` must have one more entry") as excinfo:
        PiecewiseConstant(boundaries, values)
    assert f"got {len(values)} values for {len(boundaries)} boundaries" in str(excinfo.value)


def test_too_small_for_float32_points_to_x64():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        ExponentialDecay(1e-50, 10, 0.5)


@pytest.mark.parametrize(
    ("build", "values", "param"),
    [
        (lambda r: InverseTimeDecay(0.1, 10, r), [0.5, -1.0], "decay_rate"),
        (lambda r: ExponentialDecay(0.1, 10, r), [0.5, 0.0], "decay_rate"),
        (lambda n: ExponentialDecay(0.1, n, 0.5), [10.0, float("nan")], "decay_steps"),
        (lambda n: PolynomialDecay(0.1, n, 0.0), np.array([10, 0], np.int32), "decay_steps"),
        (lambda p: PolynomialDecay(0.1, 10, 0.0, power=p), [1.0, -2.0], "power"),
        (lambda b: PiecewiseConstant(b, [0.1, 0.2, 0.3]), np.array([[1, 5], [5, 1]], np.int32), "boundaries"),
        (lambda v: PiecewiseConstant([3], v), [[0.1, 0.2], [0.1, -0.2]], "values"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_traced_invalid_value_raises_at_runtime(build, values, param):
    build_batch = jax.jit(jax.vmap(build))
    values = jnp.asarray(values)
    good = build_batch(values[:1])
    assert np.isfinite(np.asarray(good.lr)).all()
    with pytest.raises(RUNTIME_ERRORS, match=rf"\({param}=\.\.\.\)` must be"):
        jax.block_until_ready(build_batch(values).lr)


def test_traced_polynomial_decay_steps_must_be_integers():
    with pytest.raises(ValueError, match=r"decay_steps=.*integer"):
        jax.vmap(lambda n: PolynomialDecay(0.1, n, 0.0))(jnp.array([5.0, 6.0]))


# ----------------------------------------------------------------------------------------
# make_schedule


@pytest.mark.parametrize("number", [0.1, 1, np.float32(0.1), np.float64(0.1), jnp.asarray(0.1), np.array(0.1)])
def test_make_schedule_of_a_number_is_constant(number):
    sched = make_schedule(number)
    assert isinstance(sched, Constant)
    _assert_same_array(_eager_lrs(sched, 3), np.full(4, np.float32(float(number))))


def test_make_schedule_of_a_function_or_scheduler(float_mode):
    fn = optimizers.inverse_time_decay(0.1, 5, 0.5)
    sched = make_schedule(fn)
    assert isinstance(sched, FunctionScheduler) and sched.schedule is fn
    # A wrapped function is compiled with its constants, like `jax.jit(fn)` (see test_function_scheduler.py).
    _assert_same_array(_eager_lrs(sched, 20), _jax_lrs(jax.jit(fn), 20))
    native = InverseTimeDecay(0.1, 5, 0.5)
    assert make_schedule(native) is native
