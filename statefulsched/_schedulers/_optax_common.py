"""Pieces shared by the schedulers that mirror optax's schedule functions.

optax's schedules are functions of the step count written with `jax.numpy`, with some
constants computed in Python floats (`init_value - end_value`, `end_value / peak_value`).
The schedulers here store those constants computed the same way (in float64 on the host,
then rounded to the working dtype) and evaluate optax's formulas operation by operation, so
that they give optax's values bit for bit: the values `optax_fn(count)` returns when called
(eagerly) with the count as a Python `int`.
"""

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int

from .._base import AbstractOverridingScheduler, replace
from .._numerics import INT32_MAX, INT32_MIN, as_float, as_int
from .._validation import fail, integer, is_traced, real


class AbstractOptaxSchedule(AbstractOverridingScheduler):
    """A scheduler whose lr after `t` steps is an optax schedule evaluated at count `t`.

    Subclasses give `_value_at(t)`; `step` moves `last_epoch` on by one and sets `lr` to the
    value there, so the lr depends on nothing but `last_epoch` and the configuration.
    """

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    @abc.abstractmethod
    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        """The schedule's value at step count `t >= 0`."""

    def _advance(self, metric: Any) -> "AbstractOptaxSchedule":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self._value_at(t))


# ---------------------------------------------------------------------------------------
# Arithmetic


def opaque(x: Array, t: Int[Array, ""]) -> Array:
    """`x` unchanged, but as a value XLA cannot see through, so each operation stays IEEE.

    optax's schedules, evaluated operation by operation, round every result. Compiled,
    XLA's CPU backend would not always: it contracts `a * b + c` into a fused multiply-add
    (skipping the rounding of `a * b`), divides by a constant (a scheduler closed over by a
    jitted function) or by a divisor shared across a vmapped batch through its reciprocal,
    and turns `pow(x, 2.0)` into `x * x`. Passing a product, divisor or exponent through
    here (its bits XOR-ed with a zero the compiler cannot predict: the step count `t`
    reaches `INT32_MAX` only where counting stops, at the end of the step range, but nothing
    tells the compiler so, even where it knows `t >= 0`) keeps eager, jitted, scanned and
    vmapped steps on optax's bits. At step `INT32_MAX`, and so on every step held there, the
    last bit would flip: an ulp, never more.
    """
    bits_dtype = jnp.int64 if x.dtype == jnp.float64 else jnp.int32
    bits = lax.bitcast_convert_type(x, bits_dtype)
    opaque_zero = (t == INT32_MAX).astype(bits_dtype)
    return lax.bitcast_convert_type(bits ^ opaque_zero, x.dtype)


def power(x: Array, exponent: Array, integer_exponent: bool | Array, t: Int[Array, ""]) -> Array:
    """`x ** exponent` the way `jnp.power` computes it in optax.

    Given a Python `int` exponent, `jnp.power` multiplies by binary exponentiation
    (`lax.integer_pow`); given a float it calls `lax.pow`. The two differ in the last bit,
    so the kind of exponent the user gave is kept (`integer_exponent`, static, or a boolean
    array when it varies per cycle) and the same multiplications are replayed here with
    the exponent as a runtime value (`exponent >= 0`). `t`: see `opaque`.
    """
    if integer_exponent is False:
        return lax.pow(x, opaque(exponent, t))
    start = (exponent.astype(jnp.int32), jnp.ones_like(x), x)
    _, acc, _ = lax.while_loop(_bits_left, _multiply_in_bit, start)
    if integer_exponent is True:
        return acc
    return jnp.where(integer_exponent, acc, lax.pow(x, opaque(exponent, t)))


def _bits_left(carry: tuple[Array, Array, Array]) -> Array:
    return carry[0] > 0


def _multiply_in_bit(carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
    # `lax.integer_pow`'s products in its order: `acc * x ** (2 ** k)` for each set bit `k`
    # of the exponent, lowest first (`acc` starts at 1, and `1 * y` is exact). Module-level
    # functions, so an eager `while_loop` is traced and compiled once.
    n, acc, square = carry
    return n >> 1, jnp.where(n & 1 == 1, acc * square, acc), square * square


def polynomial_value(
    t: Int[Array, ""],
    init_value: Float[Array, ""],
    init_minus_end: Float[Array, ""],
    end_value: Float[Array, ""],
    exponent: Float[Array, ""] | None,
    integer_exponent: bool,
    transition_steps: Int[Array, ""],
    transition_begin: Int[Array, ""],
) -> Float[Array, ""]:
    """`optax.polynomial_schedule` at count `t` (`exponent=None`: linear, optax's `power=1`).

    `transition_begin` is already clamped to `>= 0`; `transition_steps <= 0` gives the
    constant `init_value`, as in optax.
    """
    dtype = init_value.dtype
    done = jnp.clip(t - transition_begin, 0, transition_steps)
    frac = 1 - done.astype(dtype) / opaque(jnp.maximum(transition_steps, 1).astype(dtype), t)
    if exponent is not None:
        frac = power(frac, exponent, integer_exponent, t)
    value = opaque(init_minus_end * frac, t) + end_value
    return jnp.where(transition_steps <= 0, init_value, value)


def interpolate_value(
    t: Int[Array, ""], boundaries: Int[Array, " k"], values: Float[Array, " k+1"], cosine: bool
) -> Float[Array, ""]:
    """`optax.piecewise_interpolate_schedule` at count `t`.

    `boundaries` are the sorted steps and `values` the cumulative products of the initial
    value and the scales. optax sums the interpolations of every interval weighted by an
    indicator of the one holding `t`; all but one term are exact zeros, so indexing that
    interval gives the same bits.
    """
    k = boundaries.shape[0]
    if k == 0:
        return values[0]
    dtype = values.dtype
    j = jnp.sum(boundaries <= t)
    nxt = jnp.minimum(j + 1, k)
    bounds = jnp.concatenate([jnp.zeros((1,), boundaries.dtype), boundaries])
    low = bounds[j]
    size = jnp.maximum(bounds[nxt] - low, 1)
    pct = (t - low).astype(dtype) / opaque(size.astype(dtype), t)
    start, end = values[j], values[nxt]
    if cosine:
        inside = end + opaque((start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1), t)
    else:
        inside = opaque((end - start) * pct, t) + start
    return jnp.where(j == k, values[k], inside)


def host_or_traced(fn: Callable[..., Any], *values: Any) -> Float[Array, ""]:
    """`fn(*values)` as a float leaf, computed the way optax computes it.

    optax computes constants such as `init_value - end_value` in Python floats when it is
    given Python numbers, and in the arrays' dtype when given arrays (e.g. traced values
    under `jax.vmap`); so does this.
    """
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return as_float(fn(*(float(v) for v in values)))
    return as_float(fn(*(as_float(v) for v in values)))


def cosine_alpha(peak_value: Any, end_value: Any) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """`(1 - alpha, alpha)` with optax's `alpha = 0.0 if peak_value == 0.0 else end_value / peak_value`."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (peak_value, end_value)):
        alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
        return as_float(1 - alpha), as_float(alpha)
    peak, end = as_float(peak_value), as_float(end_value)
    zero = peak == 0
    alpha = jnp.where(zero, 0.0, end / jnp.where(zero, 1.0, peak)).astype(peak.dtype)
    return (1 - alpha).astype(peak.dtype), alpha


# ---------------------------------------------------------------------------------------
# Argument checking


def scalar(call: str, name: str, value: Any, leaf: Array, expected: str) -> Array:
    if leaf.ndim != 0:
        raise fail(call, name, value, expected)
    return leaf


def number(call: str, name: str, value: Any, **bounds) -> Float[Array, ""]:
    """A finite float hyperparameter (see `_validation.real`), as a scalar leaf."""
    return scalar(call, name, value, real(call, name, value, **bounds), "a single number")


def count(call: str, name: str, value: Any, *, low: int | None = 1) -> Int[Array, ""]:
    """An integer step count `>= low` as an `int32` leaf; `low=None` allows any integer.

    optax gives some counts `<= 0` a meaning (`transition_steps <= 0` holds the initial
    value), so those are accepted here with any sign.
    """
    if low is not None:
        return scalar(call, name, value, integer(call, name, value, low=low), "a single integer")
    expected = "an integer"
    if is_traced(value):
        if not jnp.issubdtype(jnp.result_type(value), jnp.integer):
            raise fail(call, name, value, expected + " (an integer-dtype array when traced)")
    elif isinstance(value, (jax.Array, np.ndarray, np.integer)):
        if np.ndim(value) != 0 or not np.issubdtype(np.asarray(value).dtype, np.integer):
            raise fail(call, name, value, expected)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise fail(call, name, value, expected)
    if not is_traced(value) and not INT32_MIN <= int(value) <= INT32_MAX:
        raise fail(call, name, value, "an integer in the int32 range")
    return scalar(call, name, value, as_int(value), "a single integer")


def flag(call: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise fail(call, name, value, "True or False")
    return bool(value)


def is_integer_exponent(value: Any) -> bool:
    """Whether `jnp.power` would treat `value` as a concrete integer exponent."""
    if is_traced(value):
        return False
    if isinstance(value, (jax.Array, np.ndarray)):
        return np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.integer)
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def scale_items(call: str, boundaries_and_scales: Any) -> tuple[Int[Array, " k"], Float[Array, " k"]]:
    """The `{step: scale}` dict of the piecewise schedules as `(steps, scales)` leaves, sorted by step.

    Steps are integers in the int32 range; scales finite and `>= 0` (optax rejects negative
    ones; an infinite scale would give NaN lrs before its step).
    """
    name = "boundaries_and_scales"
    if boundaries_and_scales is None:
        boundaries_and_scales = {}
    if not isinstance(boundaries_and_scales, Mapping):
        raise fail(call, name, boundaries_and_scales, "a dict `{step: scale}` or None")
    for key in boundaries_and_scales:
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise fail(call, name, boundaries_and_scales, f"a dict with integer steps as keys (not {key!r})")
        if not INT32_MIN <= int(key) <= INT32_MAX:
            raise fail(call, name, boundaries_and_scales, f"a dict with steps in the int32 range (not {key!r})")
    items = sorted(boundaries_and_scales.items(), key=lambda item: int(item[0]))
    steps = as_int(np.asarray([int(key) for key, _ in items], dtype=np.int32).reshape(len(items)))
    scales = [number(call, f"{name}[{key}]", scale, low=0.0) for key, scale in items]
    return steps, jnp.stack(scales) if scales else as_float(np.zeros((0,)))


def check_finite(call: str, values: Array, what: str) -> None:
    """Reject concrete derived values that overflowed (the lr would be inf or NaN)."""
    if not is_traced(values) and not bool(np.all(np.isfinite(np.asarray(values)))):
        raise ValueError(
            f"`{call}`: {what} overflows {values.dtype} (the lr would be inf or NaN); use smaller values, "
            "or enable `jax_enable_x64`."
        )
