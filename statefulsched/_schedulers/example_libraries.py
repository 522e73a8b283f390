"""The schedules of `jax.example_libraries.optimizers` as stateful schedulers.

`exponential_decay`, `inverse_time_decay`, `polynomial_decay`, `piecewise_constant` and
`constant` are pure functions of the step count; each class here holds the count and the
learning rate it gives. After `k` calls to `step`, `lr` equals the jax function evaluated at
the integer array `jnp.asarray(k)`, bit for bit, in float32 and under `jax_enable_x64` (where
that count is an int64; at an int32 count jax would compute in float32): the arithmetic as jax
writes it, op by op. It does so eagerly, under `jax.jit`, in `lax.scan`,
batched by `jax.vmap`, and also when the scheduler is built inside a jitted function; the jax
function itself, compiled with constant hyperparameters, is moved a few ulp by XLA's rewrites
(see `_opaque` and `_rounded`).

The jax functions do part of their arithmetic in Python floats (`step_size - final_step_size`)
and the rest in the working float dtype; the Python-float parts are computed here in float64 on
the host at construction and rounded once, like jax rounds them when they meet an array.
"""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractOverridingScheduler, AbstractScheduler, replace
from .._numerics import as_float, as_int
from .._validation import fail, integer, is_traced, real
from .function import FunctionScheduler


def _scalar(call: str, name: str, value: Any, **bounds) -> Float[Array, ""]:
    """A finite real number (not a list) as a float leaf; see `_validation.real`."""
    if isinstance(value, (list, tuple)) or (not is_traced(value) and np.ndim(value) != 0):
        raise fail(call, name, value, "a number")
    array = real(call, name, value, **bounds)
    if array.ndim != 0:  # a traced value of the wrong shape
        raise fail(call, name, value, "a number")
    return array


def _staircase(call: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise fail(call, "staircase", value, "True or False")
    return bool(value)


def _step_count(call: str, name: str, value: Any) -> Int[Array, ""]:
    """A positive integer; a float with an integral value (`1000.`) is accepted as that integer."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return integer(call, name, value)


def _integer_power(power: Any) -> int | None:
    """The exponent when it is a concrete integer, for which `jnp.power` uses `lax.integer_pow`."""
    if is_traced(power) or isinstance(power, bool):
        return None
    if isinstance(power, (int, np.integer)):
        return int(power)
    if isinstance(power, (np.ndarray, jax.Array)) and power.ndim == 0 and np.issubdtype(power.dtype, np.integer):
        return int(power)
    return None


def _opaque(*hyperparameters: Array) -> tuple[Array, ...]:
    """The hyperparameters, hidden from XLA's constant folding.

    A scheduler built inside a jitted function has compile-time constants for hyperparameters,
    and XLA rewrites `x / c` as `x * (1 / c)`: a few ulp away from jax's arithmetic, and in
    `PolynomialDecay` enough to turn `1 - t / T` at `t = T` into a tiny positive or negative
    number (with `power=0.1` the lr then ends at 17% of `step_size`, or NaN, instead of
    `final_step_size`). Behind an optimization barrier they stay runtime values, so a scheduler
    gives the same numbers wherever it was built.
    """
    return lax.optimization_barrier(hyperparameters)


def _rounded(product: Array) -> Array:
    """`product`, rounded to its dtype before it is added to anything.

    Within a fused kernel XLA's CPU backend turns `a * b + c` into a fused multiply-add, which
    rounds once where jax's op-by-op evaluation of the same expression rounds twice. A select
    between the product and something else (here NaN for NaN, a no-op) keeps it a value of its own.
    """
    return jnp.where(jnp.isnan(product), jnp.nan, product)


def _difference(high: Any, low: Any) -> Float[Array, ""]:
    """`high - low` in float64, rounded once to the working dtype (jax subtracts Python floats)."""
    if is_traced(high) or is_traced(low):
        return as_float(high) - as_float(low)
    difference = np.float64(np.asarray(high, np.float64) - np.asarray(low, np.float64))
    return as_float(difference)


def _boundaries(call: str, boundaries: Any) -> Int[Array, " n"]:
    expected = "a strictly increasing sequence of integers >= 0 (step counts)"
    if isinstance(boundaries, (str, bytes)):
        raise fail(call, "boundaries", boundaries, expected)
    if is_traced(boundaries):
        array = jnp.asarray(boundaries)
        if array.ndim != 1:
            raise fail(call, "boundaries", boundaries, expected)
        array = integer(call, "boundaries", array, low=0)
        increasing = jnp.all(array[1:] > array[:-1])
        return eqx.error_if(array, jnp.logical_not(increasing), f"`{call}(boundaries=...)` must be {expected}.")
    if np.ndim(boundaries) != 1:
        raise fail(call, "boundaries", boundaries, expected)
    values = list(boundaries) if isinstance(boundaries, (list, tuple)) else np.asarray(boundaries).tolist()
    if any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0 for b in values):
        raise fail(call, "boundaries", boundaries, expected)
    if any(b > np.iinfo(np.int32).max for b in values) or np.any(np.diff(np.asarray(values, np.int64)) <= 0):
        raise fail(call, "boundaries", boundaries, expected)
    return as_int(np.asarray(values, dtype=np.int64).reshape(-1))


class ExponentialDecay(AbstractOverridingScheduler):
    r"""Decay the learning rate exponentially: by `decay_rate` every `decay_steps` steps, smoothly.

    $$\text{lr}_t = \text{step\_size} \cdot \text{decay\_rate}^{\,t / \text{decay\_steps}}$$

    Mirrors `jax.example_libraries.optimizers.exponential_decay`, bit for bit.

    **Arguments:**

    - `step_size`: the learning rate at step 0, finite and `>= 0`.
    - `decay_steps`: finite and `> 0`; an integer or a float (`1000.`), as in jax.
    - `decay_rate`: finite and `> 0`; `< 1` decays, `> 1` grows the learning rate (without
        bound: in float32 it overflows to `inf` once `decay_rate ** (t / decay_steps)` exceeds
        about `3.4e38`, as in jax).

    **Differences from jax.example_libraries:** `decay_steps <= 0` (a division by zero or a
    growing schedule), `decay_rate <= 0` (NaN for a negative rate, an lr of zero after step 0
    for zero) and a negative `step_size` are rejected.
    """

    step_size: Float[Array, ""]
    decay_steps: Float[Array, ""]
    decay_rate: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(self, step_size: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike):
        call = "ExponentialDecay"
        self.step_size = _scalar(call, "step_size", step_size, low=0.0)
        self.decay_steps = _scalar(call, "decay_steps", decay_steps, low=0.0, low_open=True)
        self.decay_rate = _scalar(call, "decay_rate", decay_rate, low=0.0, low_open=True)
        self.last_epoch = as_int(0)
        self.lr = ExponentialDecay._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        step_size, decay_steps, decay_rate = _opaque(self.step_size, self.decay_steps, self.decay_rate)
        exponent = t.astype(decay_steps.dtype) / decay_steps
        return step_size * lax.pow(decay_rate, exponent)

    def _advance(self, metric: Any) -> "ExponentialDecay":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self._value_at(t))


class InverseTimeDecay(AbstractOverridingScheduler):
    r"""Decay the learning rate in inverse proportion to the step count.

    $$\text{lr}_t = \frac{\text{step\_size}}{1 + \text{decay\_rate} \cdot t / \text{decay\_steps}}$$

    with $t / \text{decay\_steps}$ rounded down when `staircase=True`. Mirrors
    `jax.example_libraries.optimizers.inverse_time_decay`, bit for bit.

    **Arguments:**

    - `step_size`: the learning rate at step 0, finite and `>= 0`.
    - `decay_steps`: finite and `> 0`; an integer or a float (`1000.`), as in jax.
    - `decay_rate`: finite and `>= 0` (`0` keeps the learning rate constant).
    - `staircase`: decay in whole periods of `decay_steps` steps. Default `False`.

    **Differences from jax.example_libraries:** `decay_steps <= 0` (a division by zero),
    a negative `decay_rate` (the denominator crosses zero: an infinite, then negative
    learning rate) and a negative `step_size` are rejected.
    """

    step_size: Float[Array, ""]
    decay_steps: Float[Array, ""]
    decay_rate: Float[Array, ""]
    staircase: bool = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(self, step_size: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike, staircase: bool = False):
        call = "InverseTimeDecay"
        self.step_size = _scalar(call, "step_size", step_size, low=0.0)
        self.decay_steps = _scalar(call, "decay_steps", decay_steps, low=0.0, low_open=True)
        self.decay_rate = _scalar(call, "decay_rate", decay_rate, low=0.0)
        self.staircase = _staircase(call, staircase)
        self.last_epoch = as_int(0)
        self.lr = InverseTimeDecay._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        step_size, decay_steps, decay_rate = _opaque(self.step_size, self.decay_steps, self.decay_rate)
        t = t.astype(decay_steps.dtype)
        if self.staircase:
            decay = _rounded(decay_rate * jnp.floor(t / decay_steps))
        else:
            # `(rate * t) / steps`, in jax's order of operations.
            decay = decay_rate * t / decay_steps
        return step_size / (1 + decay)

    def _advance(self, metric: Any) -> "InverseTimeDecay":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self._value_at(t))


class PolynomialDecay(AbstractOverridingScheduler):
    r"""Move the learning rate from `step_size` to `final_step_size` along a polynomial.

    $$\text{lr}_t = (\text{step\_size} - \text{final\_step\_size})
        \Big(1 - \frac{\min(t, \text{decay\_steps})}{\text{decay\_steps}}\Big)^{\text{power}}
        + \text{final\_step\_size}$$

    It stays at `final_step_size` after `decay_steps` steps. Mirrors
    `jax.example_libraries.optimizers.polynomial_decay`, bit for bit: like `jnp.power`, an
    integer `power` (`power=2`) is applied by repeated multiplication (`lax.integer_pow`) and
    a float one (`power=2.0`) by `lax.pow`, which can differ in the last bit.

    **Arguments:**

    - `step_size`: the learning rate at step 0, finite and `>= 0`.
    - `decay_steps`: the length of the decay, a positive integer (a float with an integral
        value, `1000.`, is accepted).
    - `final_step_size`: the learning rate from `decay_steps` on, finite and `>= 0`; it may
        exceed `step_size` (a polynomial warm-up).
    - `power`: finite and `>= 0`. Default `1.0` (linear).

    **Differences from jax.example_libraries:** `decay_steps=0` (0 / 0) and non-integral
    `decay_steps`, a negative `power` (`0 ** power` is infinite at the end of the decay) and
    negative learning rates are rejected.
    """

    step_size: Float[Array, ""]
    decay_steps: Int[Array, ""]
    final_step_size: Float[Array, ""]
    power: Float[Array, ""]
    span: Float[Array, ""] = eqx.field(repr=False)  # step_size - final_step_size, rounded once
    # A concrete integer `power`, which `jnp.power` applies with `lax.integer_pow` (a sequence
    # of multiplications fixed at trace time); `None` for a float or traced one (`lax.pow`).
    integer_power: int | None = eqx.field(static=True, repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(self, step_size: ArrayLike, decay_steps: int, final_step_size: ArrayLike, power: ArrayLike = 1.0):
        call = "PolynomialDecay"
        self.step_size = _scalar(call, "step_size", step_size, low=0.0)
        self.decay_steps = _step_count(call, "decay_steps", decay_steps)
        self.final_step_size = _scalar(call, "final_step_size", final_step_size, low=0.0)
        self.power = _scalar(call, "power", power, low=0.0)
        self.span = _difference(step_size, final_step_size)
        self.integer_power = _integer_power(power)
        self.last_epoch = as_int(0)
        self.lr = PolynomialDecay._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        decay_steps, power, span, final_step_size = _opaque(
            self.decay_steps, self.power, self.span, self.final_step_size
        )
        dtype = span.dtype
        done = jnp.minimum(t, decay_steps).astype(dtype)
        left = 1 - done / decay_steps.astype(dtype)
        if self.integer_power is None:
            multiplier = lax.pow(left, power)
        else:
            multiplier = lax.integer_pow(left, self.integer_power)
        return _rounded(multiplier * span) + final_step_size

    def _advance(self, metric: Any) -> "PolynomialDecay":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self._value_at(t))


class PiecewiseConstant(AbstractOverridingScheduler):
    r"""A learning rate constant between boundaries: `values[i]` once the step count passes `i` boundaries.

    $$\text{lr}_t = \text{values}\big[\#\{b \in \text{boundaries} : t > b\}\big]$$

    So `values[0]` applies for steps `0 .. boundaries[0]` (inclusive), `values[1]` from
    `boundaries[0] + 1` on, and so on. Mirrors `jax.example_libraries.optimizers.piecewise_constant`
    exactly.

    **Arguments:**

    - `boundaries`: a strictly increasing sequence of integers `>= 0` (step counts); may be
        empty.
    - `values`: the learning rates, one more than `boundaries`, each finite and `>= 0`.
        Kept as the attribute `step_sizes` (jax's name for a learning rate): `values` is the
        method every scheduler has, `values(n)`, its next `n` learning rates.

    **Differences from jax.example_libraries:** unsorted or repeated boundaries (jax then
    skips values or uses them out of order), negative boundaries (jax never uses the first
    value), float boundaries (jax compares `t > b`, so pass `math.floor(b)`) and negative
    learning rates are rejected.
    """

    boundaries: Int[Array, " boundaries"]
    # The `values` argument. Not a field of that name: it would hide the `values(n)` method
    # every scheduler has (the curve); `step_size` is what jax calls a learning rate.
    step_sizes: Float[Array, " values"]
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(self, boundaries: Sequence[int] | ArrayLike, values: Sequence[float] | ArrayLike):
        call = "PiecewiseConstant"
        self.boundaries = _boundaries(call, boundaries)
        if isinstance(values, (str, bytes)) or (not is_traced(values) and np.ndim(values) != 1):
            raise fail(call, "values", values, "a non-empty sequence of numbers")
        self.step_sizes = real(call, "values", values, low=0.0)
        if self.step_sizes.ndim != 1:
            raise fail(call, "values", values, "a non-empty sequence of numbers")
        n_boundaries, n_values = self.boundaries.shape[0], self.step_sizes.shape[0]
        if n_values != n_boundaries + 1:
            raise ValueError(
                f"`{call}(values=...)` must have one more entry than `boundaries` (a value before "
                f"the first boundary and one after each), got {n_values} values for {n_boundaries} boundaries."
            )
        self.last_epoch = as_int(0)
        self.lr = PiecewiseConstant._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return self.step_sizes[jnp.sum(t > self.boundaries)]

    def _advance(self, metric: Any) -> "PiecewiseConstant":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self._value_at(t))


class Constant(AbstractOverridingScheduler):
    r"""A constant learning rate: $\text{lr}_t = \text{step\_size}$.

    Mirrors `jax.example_libraries.optimizers.constant`; useful where a scheduler is expected
    (`make_schedule(0.1)` builds one).

    **Arguments:**

    - `step_size`: the learning rate, finite and `>= 0`.

    **Differences from jax.example_libraries:** a negative `step_size` is rejected.
    """

    step_size: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(self, step_size: ArrayLike):
        self.step_size = _scalar("Constant", "step_size", step_size, low=0.0)
        self.last_epoch = as_int(0)
        self.lr = self.step_size

    def _advance(self, metric: Any) -> "Constant":
        del metric
        return replace(self, last_epoch=self.last_epoch + 1, lr=self.step_size)


def make_schedule(scalar_or_schedule: ArrayLike | Callable | AbstractScheduler) -> AbstractScheduler:
    """A scheduler from a number or a schedule function, like `jax.example_libraries.optimizers.make_schedule`.

    - A number (a Python or NumPy scalar, or a 0-d array) gives `Constant(number)`.
    - A callable `count -> lr` (a `jax.example_libraries` or optax schedule, or your own
        function written with `jax.numpy`) gives `FunctionScheduler(callable)`.
    - A scheduler is returned unchanged (jax returns a schedule function unchanged).

    **Differences from jax.example_libraries:** anything else raises `ValueError` (jax raises
    `TypeError`).
    """
    if isinstance(scalar_or_schedule, AbstractScheduler):
        return scalar_or_schedule
    if callable(scalar_or_schedule):
        return FunctionScheduler(scalar_or_schedule)
    if isinstance(scalar_or_schedule, (int, float, np.number, np.ndarray, jax.Array)) and not isinstance(
        scalar_or_schedule, bool
    ):
        if np.ndim(scalar_or_schedule) == 0:
            return Constant(scalar_or_schedule)
    raise fail(
        "make_schedule",
        "scalar_or_schedule",
        scalar_or_schedule,
        "a number (a constant learning rate) or a callable `count -> lr`",
    )
