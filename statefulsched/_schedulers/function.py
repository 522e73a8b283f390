"""`FunctionScheduler`: any schedule function `count -> lr` (optax, jax.example_libraries, your own) as a scheduler."""

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._base import AbstractOverridingScheduler, AbstractScheduler, replace
from .._errors import check, collecting, runtime_error
from .._numerics import as_int, float_dtype
from .._validation import fail, is_traced

_CALL = "FunctionScheduler"

NON_FINITE = runtime_error(
    "`FunctionScheduler.step`: the schedule function returned a non-finite learning rate (nan or inf). "
    "Training with it would silently turn the parameters into NaN; check the function at the step "
    "count `last_epoch + 1` (a division by zero, or an overflow far into the schedule)."
)
_FINITE_AT_START = "`FunctionScheduler(schedule=...)` must return a finite learning rate at step 0"

_UNTRACEABLE = (
    "`FunctionScheduler(schedule=...)` is called with the step count as a JAX integer array and "
    "traced under `jax.jit`, so it must be written with `jax.numpy`: `jnp.where(count == 0, a, b)` "
    "rather than `a if count == 0 else b`, `jnp.minimum` rather than `min`, `jnp.exp` rather than "
    "`math.exp`. Calling it failed with: {error}"
)


def _count_dtype() -> jnp.dtype:
    """The default integer dtype: int32, or int64 under x64 (so `count / n` is in the working precision)."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))


def _output(value: Any) -> Array:
    """The raw output of the schedule as an array, or a `ValueError` saying what it is instead."""
    if callable(value):
        raise ValueError(
            "`FunctionScheduler(schedule=...)` must return a learning rate, but it returned a function: "
            "it looks like a schedule factory. Call it first, e.g. `FunctionScheduler(make_lr(0.1))` "
            "rather than `FunctionScheduler(make_lr)`."
        )
    try:
        return jnp.asarray(value)
    except (TypeError, ValueError):  # (`jnp.asarray(None)` raises a ValueError)
        raise ValueError(
            f"`FunctionScheduler(schedule=...)` must return a real scalar, got a value of type {type(value).__name__}."
        ) from None


def _checked_schedule(schedule: Any) -> Callable:
    """Check a schedule function once, abstractly: callable, hashable, traceable, real scalar out."""
    if not callable(schedule):
        raise fail(
            _CALL,
            "schedule",
            schedule,
            "a callable `count -> lr` (for a constant learning rate use `Constant` or `make_schedule`)",
        )
    if isinstance(schedule, AbstractScheduler):
        raise ValueError(
            f"`FunctionScheduler(schedule=...)` must be a schedule function, got a {type(schedule).__name__} "
            "scheduler, which can be used as it is."
        )
    try:
        hash(schedule)
    except TypeError:
        raise ValueError(
            "`FunctionScheduler(schedule=...)` must be hashable: it is a static field, part of the "
            "compiled program. Wrap a callable holding arrays in a plain function, or use one of the "
            "native schedulers, whose hyperparameters are array leaves."
        ) from None
    count = jax.ShapeDtypeStruct((), _count_dtype())
    try:
        out = jax.eval_shape(lambda count: _output(schedule(count)), count)
    except jax.errors.JAXTypeError as e:  # tracer conversions: `if count == 0`, `math.exp(count)`
        raise ValueError(_UNTRACEABLE.format(error=str(e).splitlines()[0])) from e
    except TypeError as e:  # e.g. a function of two arguments
        raise ValueError(
            f"`FunctionScheduler(schedule=...)` must be a function of one argument, the step count; "
            f"calling it failed with: {e}"
        ) from e
    dtype = np.dtype(out.dtype)
    real = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
    if out.shape != () or not real:
        raise ValueError(
            "`FunctionScheduler(schedule=...)` must return a real scalar for each step count, got an "
            f"array of shape {out.shape} and dtype {dtype}."
        )
    return schedule


def _evaluate(schedule: Callable, t: Int[Array, ""]) -> Float[Array, ""]:
    return jnp.asarray(schedule(t.astype(_count_dtype())), dtype=float_dtype())


# The lr at construction, compiled like `step` compiles the function (one small program rather
# than one per operation, and the same XLA rewrites as at every later step).
_evaluate_compiled = jax.jit(_evaluate, static_argnums=0)


class FunctionScheduler(AbstractOverridingScheduler):
    r"""A scheduler whose learning rate is a given function of the step count.

    $$\text{lr}_t = \text{schedule}(t)$$

    Turns any schedule function into a scheduler: an optax schedule
    (`optax.warmup_cosine_decay_schedule(...)`), a `jax.example_libraries.optimizers` schedule
    (`exponential_decay(...)`), or your own. The output is cast to the working float dtype.

    The function is compiled with its constants into `step`, so after each step the lr
    equals `jax.jit(schedule)` at the count, bit for bit. Evaluated eagerly, op by op, the same
    function can differ from that by about one rounding of its largest value: XLA turns a
    division by a constant into a multiplication by its reciprocal and `a * b + c` into a fused
    multiply-add. (The native schedulers, e.g. `ExponentialDecay`, keep their hyperparameters
    out of XLA's reach and match the eager evaluation of the `jax.example_libraries` functions
    exactly.)

    ```python
    def custom_scheduler(init_lr):  # jax.example_libraries style: divide by 3 each step
        def schedule(i):
            return jnp.where(i == 0, init_lr, init_lr / 3.0**i)
        return schedule

    sched = FunctionScheduler(custom_scheduler(1e-4))
    ```

    **Arguments:**

    - `schedule`: a function `count -> lr`. `count` is a scalar JAX integer array (`int32`, or
        `int64` under `jax_enable_x64` so that `count / n` is computed in float64); the result
        must be a real scalar. It is traced under `jax.jit`, so write it with `jax.numpy`
        (`jnp.where`, not Python's `if`). It is a static field, so it must be hashable (any
        function is) and pure.

    **Checks:** at construction the function is traced once (`jax.eval_shape`) to check its
    output, and its value at step 0 must be finite. A non-finite learning rate at a later step
    raises (through `eqx.error_if`: a `ValueError` from an eager `step`, an error at run time
    under `jax.jit`) rather than being passed on silently, as optax and torch would. This
    happens in practice: compiled under x64, `optax.polynomial_schedule(0.1, 0.001, 0.5, 50)`
    computes `(1 - 50 * (1 / 50)) ** 0.5`, a NaN, at count 50.

    !!! warning
        A function closing over traced values (a hyperparameter batched by `jax.vmap`, or an
        argument of a jitted function) gives a scheduler that must be stepped inside that same
        transformation. To return a batch of schedulers from `jax.vmap`, use a native scheduler
        such as `ExponentialDecay`, whose hyperparameters are array leaves.
    """

    schedule: Callable = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True
    _has_runtime_checks: ClassVar[bool] = True

    def __init__(self, schedule: Callable[[Int[Array, ""]], Any]):
        self.schedule = _checked_schedule(schedule)
        self.last_epoch = as_int(0)
        lr = _evaluate_compiled(schedule, self.last_epoch)
        if is_traced(lr):
            lr = eqx.error_if(lr, jnp.logical_not(jnp.isfinite(lr)), f"{_FINITE_AT_START}.")
        elif not bool(jnp.isfinite(lr)):
            raise ValueError(f"{_FINITE_AT_START}, got {float(lr)}.")
        self.lr = lr

    def _advance(self, metric: Any) -> "FunctionScheduler":
        del metric
        t = self.last_epoch + 1
        lr = _evaluate(self.schedule, t)
        if collecting():  # an eager step or `values`: raised in Python (see `_errors.py`)
            check(jnp.logical_not(jnp.isfinite(lr)), NON_FINITE)
        else:
            lr = eqx.error_if(lr, jnp.logical_not(jnp.isfinite(lr)), NON_FINITE)
        return replace(self, last_epoch=t, lr=lr)
