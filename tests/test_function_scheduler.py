"""`FunctionScheduler`: a schedule function `count -> lr` as a scheduler.

It must reproduce optax's and `jax.example_libraries`' schedule functions and users' own at
every count, reject functions it cannot run (clearly, at construction), and never hand on a
non-finite learning rate silently.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.example_libraries import optimizers

from statefulsched._schedulers.example_libraries import Constant, ExponentialDecay, make_schedule
from statefulsched._schedulers.function import NON_FINITE, FunctionScheduler

RUNTIME_ERRORS = (ValueError, RuntimeError)
N_STEPS = 90


def _float_dtype():
    return jnp.dtype(jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


def _eager_lrs(sched, n: int) -> np.ndarray:
    lrs = [sched.lr]
    for _ in range(n):
        sched = sched.step()
        lrs.append(sched.lr)
    return np.asarray(lrs)


def _at_counts(fn, n: int) -> np.ndarray:
    return np.asarray([fn(jnp.asarray(k)) for k in range(n + 1)], dtype=_float_dtype())


# Built inside the tests, so that under x64 they are made in float64 like everything else.
SCHEDULES = {
    "optax.warmup_cosine_decay_schedule": lambda: optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 80, 1e-4),
    "optax.exponential_decay": lambda: optax.exponential_decay(0.1, 15, 0.7),
    "optax.exponential_decay-staircase-begin-end": lambda: optax.exponential_decay(
        0.1, 15, 0.7, transition_begin=10, staircase=True, end_value=1e-3
    ),
    "optax.linear_schedule": lambda: optax.linear_schedule(0.1, 0.0, 60, transition_begin=20),
    "optax.piecewise_constant_schedule": lambda: optax.piecewise_constant_schedule(0.1, {30: 0.5, 60: 0.1}),
    "optax.polynomial_schedule": lambda: optax.polynomial_schedule(0.1, 0.001, 2.0, 80),
    "optimizers.exponential_decay": lambda: optimizers.exponential_decay(0.1, 7, 0.9),
    "optimizers.inverse_time_decay": lambda: optimizers.inverse_time_decay(0.1, 7.5, 0.9, staircase=True),
    "optimizers.polynomial_decay": lambda: optimizers.polynomial_decay(0.1, 60, 0.001, power=3),
    "optimizers.piecewise_constant": lambda: optimizers.piecewise_constant([10, 50], [0.1, 0.01, 0.001]),
}


# Every schedule in float32; under x64 (slower: a second set of compilations) a few.
_X64 = ["optax.warmup_cosine_decay_schedule", "optax.exponential_decay", "optimizers.polynomial_decay"]


@pytest.mark.parametrize(("mode", "name"), [("float32", name) for name in SCHEDULES] + [("x64", name) for name in _X64])
def test_matches_the_wrapped_function(mode, name, request):
    if mode == "x64":
        request.getfixturevalue("x64")
    fn = SCHEDULES[name]()
    ours = _eager_lrs(FunctionScheduler(fn), N_STEPS)
    assert ours.dtype == _float_dtype()
    # Bit for bit the function compiled by `jax.jit`, as it runs in a jitted training step.
    np.testing.assert_array_equal(ours, _at_counts(jax.jit(fn), N_STEPS))
    # Evaluated eagerly, op by op, the function itself differs from its compiled form through
    # XLA's rewrites (a division by a constant becomes a multiplication by its reciprocal,
    # `a * b + c` a fused multiply-add): by at most about one rounding of the largest lr.
    eager = _at_counts(fn, N_STEPS)
    eps = np.finfo(_float_dtype()).eps
    np.testing.assert_allclose(ours, eager, rtol=0, atol=2 * eps * np.max(np.abs(eager)))


def test_count_is_an_integer_array_of_the_default_dtype(float_mode):
    seen = []

    def schedule(count):
        seen.append((count.shape, count.dtype))
        return 0.1 * count / 3

    sched = FunctionScheduler(schedule).step().step()
    expected = jnp.int64 if float_mode == "x64" else jnp.int32
    assert seen and all(s == ((), jnp.dtype(expected)) for s in seen)
    # `count / 3` in the working precision: float64 under x64.
    np.testing.assert_allclose(float(sched.lr), 0.2 / 3, rtol=2 * np.finfo(_float_dtype()).eps)


def test_integer_output_is_cast_to_the_working_float_dtype(float_mode):
    sched = FunctionScheduler(lambda count: jnp.where(count < 2, 1, 0))
    assert sched.lr.dtype == _float_dtype() and not sched.lr.weak_type
    np.testing.assert_array_equal(_eager_lrs(sched, 3), [1.0, 1.0, 0.0, 0.0])


# ----------------------------------------------------------------------------------------
# A custom schedule, as in the jax.example_libraries tutorial


def custom_scheduler(init_lr):
    """The tutorial's schedule factory, verbatim: divide the lr by 3 at each step."""

    def schedule(i):
        return init_lr if i == 0 else init_lr / (3**i)

    return schedule


def custom_scheduler_jnp(init_lr):
    """The same schedule written with `jax.numpy`, so it can be traced."""

    def schedule(i):
        return jnp.where(i == 0, init_lr, init_lr / 3.0**i)

    return schedule


def test_custom_schedule_from_the_tutorial(float_mode):
    epochs = 10
    # The tutorial's plot: its Python function at Python int steps (Python float arithmetic).
    python_lrs = np.asarray([custom_scheduler(0.0001)(step) for step in range(epochs + 1)], dtype=np.float64)

    sched = FunctionScheduler(custom_scheduler_jnp(0.0001))
    ours = _eager_lrs(sched, epochs)
    # Within the working dtype's rounding of the same arithmetic (3**i is exact at these steps).
    np.testing.assert_array_max_ulp(ours, python_lrs.astype(_float_dtype()), maxulp=1)
    np.testing.assert_array_equal(ours, _at_counts(jax.jit(custom_scheduler_jnp(0.0001)), epochs))
    # `make_schedule` takes the schedule (not the factory) like jax's.
    np.testing.assert_array_equal(_eager_lrs(make_schedule(custom_scheduler_jnp(0.0001)), epochs), ours)


def test_tutorial_function_with_python_if_is_rejected_with_the_fix():
    with pytest.raises(
        ValueError, match=r"`FunctionScheduler\(schedule=\.\.\.\)` .*`jnp\.where\(count == 0, a, b\)`"
    ) as excinfo:
        FunctionScheduler(custom_scheduler(0.0001))
    assert "boolean conversion" in str(excinfo.value)  # jax's own reason, first line only
    assert "\n" not in str(excinfo.value)


def test_make_schedule_of_a_factory_says_to_call_it():
    # The tutorial calls `optimizers.make_schedule(custom_scheduler)` (which returns it as is)
    # and then `custom_scheduler(0.0001)`; a scheduler needs the schedule itself.
    with pytest.raises(ValueError, match="schedule factory") as excinfo:
        make_schedule(custom_scheduler_jnp)
    assert "FunctionScheduler(make_lr(0.1))" in str(excinfo.value)


# ----------------------------------------------------------------------------------------
# Bad functions are rejected at construction


class _ArrayHoldingSchedule(eqx.Module):
    scale: jax.Array

    def __call__(self, count):
        return self.scale / (1 + count)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (0.1, r"must be a callable `count -> lr` \(for a constant learning rate use `Constant`.*got 0\.1\."),
        (None, r"must be a callable .* got None\."),
        ("cosine", r"must be a callable .* got 'cosine'\."),
        (lambda count: 0.1 * jnp.ones(3), r"must return a real scalar .* shape \(3,\) and dtype float32"),
        (lambda count: count > 3, r"must return a real scalar .* dtype bool"),
        (lambda count: 0.1j * count, r"must return a real scalar .* dtype complex"),
        (lambda count: "0.1", r"must return a real scalar, got a value of type str"),
        (lambda count: None, r"must return a real scalar, got a value of type NoneType"),
        (
            lambda count: math.exp(-count),
            r"is called with the step count .* must be written with `jax\.numpy`.*`math\.exp`",
        ),
        (lambda count, total: count / total, r"must be a function of one argument, the step count"),
        (lambda count: 0.1 / count, r"must return a finite learning rate at step 0, got inf\."),
        (lambda count: jnp.log(count * 0.0), r"must return a finite learning rate at step 0, got -inf\."),
        (lambda count: jnp.sqrt(count - 1.0), r"must return a finite learning rate at step 0, got nan\."),
        (_ArrayHoldingSchedule(jnp.asarray(0.1)), r"must be hashable: it is a static field"),
        (ExponentialDecay(0.1, 10, 0.5), r"must be a schedule function, got a ExponentialDecay scheduler"),
    ],
    ids=[
        "number",
        "None",
        "string",
        "vector",
        "bool",
        "complex",
        "returns-str",
        "returns-None",
        "math.exp",
        "two-arguments",
        "inf-at-0",
        "-inf-at-0",
        "nan-at-0",
        "unhashable",
        "scheduler",
    ],
)
def test_bad_functions_are_rejected(schedule, message):
    with pytest.raises(ValueError, match=rf"^`FunctionScheduler\(schedule=\.\.\.\)` {message}"):
        FunctionScheduler(schedule)


def test_a_plain_function_closing_over_arrays_is_fine():
    scale = jnp.asarray(0.1)
    sched = FunctionScheduler(lambda count: scale / (1 + count))
    np.testing.assert_allclose(_eager_lrs(sched, 3), [0.1, 0.05, 0.1 / 3, 0.025], rtol=1e-6)


# ----------------------------------------------------------------------------------------
# A non-finite learning rate later in the run raises instead of being passed on


def _blows_up_at_10(count):
    return 0.1 / (10 - count)  # inf at step 10


def _nan_after_20(count):
    return 0.01 * jnp.sqrt(20.0 - count)  # nan from step 21


def test_non_finite_lr_raises_on_eager_step():
    sched = FunctionScheduler(_blows_up_at_10)
    for _ in range(9):
        sched = sched.step()
    lr = float(sched.lr)
    assert int(sched.last_epoch) == 9 and lr == np.float32(0.1)
    with pytest.raises(ValueError) as excinfo:
        sched.step()
    # The message alone, as a ValueError: not XLA's runtime error with its traceback.
    assert str(excinfo.value) == NON_FINITE
    # The scheduler it was called on is untouched.
    assert int(sched.last_epoch) == 9 and float(sched.lr) == lr


def test_nan_lr_raises_on_eager_step():
    sched = FunctionScheduler(_nan_after_20)
    lrs = _eager_lrs(sched, 20)
    assert np.isfinite(lrs).all() and lrs[-1] == 0.0
    with pytest.raises(ValueError, match="non-finite learning rate"):
        for _ in range(21):
            sched = sched.step()


def test_non_finite_lr_raises_under_jit_and_scan():
    step = jax.jit(lambda s: s.step())
    sched = FunctionScheduler(_blows_up_at_10)
    for _ in range(9):
        sched = step(sched)
    with pytest.raises(RUNTIME_ERRORS, match="non-finite learning rate"):
        jax.block_until_ready(step(sched).lr)

    def body(s, _):
        s = s.step()
        return s, s.lr

    start = FunctionScheduler(_blows_up_at_10)
    _, ok = jax.lax.scan(body, start, None, length=9)
    assert np.isfinite(np.asarray(ok)).all()
    with pytest.raises(RUNTIME_ERRORS, match="non-finite learning rate"):
        jax.block_until_ready(jax.lax.scan(body, start, None, length=12))


def test_nan_from_optax_polynomial_schedule_under_jit_is_caught(x64):
    # A real case: optax's `frac = 1 - count / transition_steps` becomes `1 - count * (1 / 50)`
    # once compiled, which is -2.2e-16 at count 50 in float64, and `frac ** 0.5` is NaN there.
    fn = optax.polynomial_schedule(0.1, 0.001, 0.5, 50)
    if np.isfinite(jax.jit(fn)(jnp.asarray(50))):
        pytest.skip("this XLA computes `count / 50` exactly under jit")
    assert fn(jnp.asarray(50)) == 0.001  # eagerly, op by op, it is fine
    sched = FunctionScheduler(fn)
    for _ in range(49):
        sched = sched.step()
    with pytest.raises(ValueError, match="non-finite learning rate"):
        sched.step()


def test_non_finite_lr_at_start_raises_when_traced():
    def lr_at_start(scale):
        return FunctionScheduler(lambda count: scale / count).lr

    with pytest.raises(RUNTIME_ERRORS, match="must return a finite learning rate at step 0"):
        jax.block_until_ready(jax.jit(lr_at_start)(jnp.asarray(0.1)))


# ----------------------------------------------------------------------------------------
# Built from traced hyperparameters, inside one transformation


def _run(sched, n: int):
    def body(s, _):
        s = s.step()
        return s, s.lr

    return jnp.concatenate([sched.lr[None], jax.lax.scan(body, sched, None, length=n)[1]])


@pytest.mark.parametrize(
    ("make", "values"),
    [
        (lambda v: optax.exponential_decay(v, 10, 0.5), [0.1, 1.0, 3e-4]),
        (lambda v: optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 60, v), [0.0, 1e-3, 0.05]),
        (lambda v: optax.linear_schedule(0.1, v, 50), [0.0, 0.01, 0.2]),
        (lambda r: optimizers.inverse_time_decay(0.1, 10, r), [0.0, 0.5, 3.0]),
    ],
    # (optax checks some arguments in Python, e.g. `decay_rate` and `peak_value`: those cannot be traced.)
    ids=[
        "optax.exponential_decay-init_value",
        "optax.warmup_cosine_decay_schedule-end_value",
        "optax.linear_schedule-end_value",
        "inverse_time_decay-decay_rate",
    ],
)
def test_vmap_over_a_hyperparameter_of_the_function(make, values):
    # The scheduler closes over the batched value, so it lives and is stepped inside the vmap.
    batch = jax.jit(jax.vmap(lambda v: _run(FunctionScheduler(make(v)), 60)))(jnp.asarray(values, _float_dtype()))
    for i, value in enumerate(values):
        member = _eager_lrs(FunctionScheduler(make(value)), 60)
        # A hyperparameter that is a constant in one program and a batched value in the other
        # can be folded differently by XLA, as for `jax.jit(fn)` itself: a few ulp at most.
        np.testing.assert_array_max_ulp(np.asarray(batch[i]), member, maxulp=4)


def test_a_constant_scheduler_is_not_a_function_scheduler():
    assert isinstance(make_schedule(0.1), Constant)
