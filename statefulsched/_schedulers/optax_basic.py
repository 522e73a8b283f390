"""optax's constant, linear, polynomial and exponential schedules, and their warm-up variants."""

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._numerics import as_int
from ._optax_common import (
    AbstractOptaxSchedule,
    count,
    flag,
    host_or_traced,
    is_integer_exponent,
    number,
    opaque,
    polynomial_value,
)


class ConstantSchedule(AbstractOptaxSchedule):
    r"""A constant learning rate: $\text{lr}_t = \text{value}$.

    Mirrors `optax.constant_schedule`.

    **Arguments:**

    - `value`: the learning rate, a finite number.

    **Differences from optax:** the value is stored as a float of the working dtype
    (optax hands back whatever it was given, an `int` included).
    """

    value: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, value: ArrayLike):
        self.value = number("ConstantSchedule", "value", value)
        self.last_epoch = as_int(0)
        self.lr = self.value

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        del t
        return self.value


class PolynomialSchedule(AbstractOptaxSchedule):
    r"""Move from `init_value` to `end_value` along a polynomial over `transition_steps` steps.

    With $I$ `init_value`, $E$ `end_value`, $P$ `power`, $T$ `transition_steps` and $B$
    `transition_begin`:

    $$\text{lr}_t = (I - E)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right)^{P} + E$$

    so the lr is held at $I$ for the first $B$ steps and at $E$ from step $B + T$ on.
    Mirrors `optax.polynomial_schedule`, bit for bit.

    **Arguments:**

    - `init_value`, `end_value`: finite numbers.
    - `power`: the exponent, finite and `>= 0`. As in `jnp.power`, a Python `int` power is
        applied by repeated multiplication and a float one by `pow`: they can differ in
        the last bit, and the kind given is kept (`integer_power`).
    - `transition_steps`: an integer; `<= 0` gives the constant `init_value`, as in optax.
    - `transition_begin`: an integer; negative values count as `0`, as in optax. Default `0`.

    **Differences from optax:** negative powers are rejected (optax divides by zero at
    the end of the transition); step counts must be integers. optax logs a message for a
    non-positive `transition_steps` or a negative `transition_begin`; this does not.

    **Precision:** under x64 it computes in float64 throughout, as optax does when called
    with a Python `int` count; called with its own `int32` step counter, optax computes
    `count / transition_steps` in float32 there.
    """

    init_value: Float[Array, ""]
    end_value: Float[Array, ""]
    power: Float[Array, ""]
    transition_steps: Int[Array, ""]
    transition_begin: Int[Array, ""]
    init_minus_end: Float[Array, ""] = eqx.field(repr=False)
    integer_power: bool = eqx.field(static=True, repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        init_value: ArrayLike,
        end_value: ArrayLike,
        power: ArrayLike,
        transition_steps: int,
        transition_begin: int = 0,
    ):
        call = "PolynomialSchedule"
        self.init_value = number(call, "init_value", init_value)
        self.end_value = number(call, "end_value", end_value)
        self.power = number(call, "power", power, low=0.0)
        self.integer_power = is_integer_exponent(power)
        self.transition_steps = count(call, "transition_steps", transition_steps, low=None)
        self.transition_begin = jnp.maximum(count(call, "transition_begin", transition_begin, low=None), 0)
        self.init_minus_end = host_or_traced(lambda a, b: a - b, init_value, end_value)
        self.last_epoch = as_int(0)
        self.lr = PolynomialSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return polynomial_value(
            t,
            self.init_value,
            self.init_minus_end,
            self.end_value,
            self.power,
            self.integer_power,
            self.transition_steps,
            self.transition_begin,
        )


class LinearSchedule(AbstractOptaxSchedule):
    r"""Move linearly from `init_value` to `end_value` over `transition_steps` steps.

    $$\text{lr}_t = (I - E)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right) + E$$

    with $I$ `init_value`, $E$ `end_value`, $T$ `transition_steps`, $B$ `transition_begin`.
    Mirrors `optax.linear_schedule` (a `polynomial_schedule` with `power=1`), bit for bit.

    **Arguments:**

    - `init_value`, `end_value`: finite numbers.
    - `transition_steps`: an integer; `<= 0` gives the constant `init_value`, as in optax.
    - `transition_begin`: an integer; negative values count as `0`, as in optax. Default `0`.

    **Differences from optax:** step counts must be integers. optax logs a message for a
    non-positive `transition_steps` or a negative `transition_begin`; this does not.

    **Precision:** under x64 it computes in float64 throughout, as optax does when called
    with a Python `int` count; called with its own `int32` step counter, optax computes
    `count / transition_steps` in float32 there.
    """

    init_value: Float[Array, ""]
    end_value: Float[Array, ""]
    transition_steps: Int[Array, ""]
    transition_begin: Int[Array, ""]
    init_minus_end: Float[Array, ""] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, init_value: ArrayLike, end_value: ArrayLike, transition_steps: int, transition_begin: int = 0):
        call = "LinearSchedule"
        self.init_value = number(call, "init_value", init_value)
        self.end_value = number(call, "end_value", end_value)
        self.transition_steps = count(call, "transition_steps", transition_steps, low=None)
        self.transition_begin = jnp.maximum(count(call, "transition_begin", transition_begin, low=None), 0)
        self.init_minus_end = host_or_traced(lambda a, b: a - b, init_value, end_value)
        self.last_epoch = as_int(0)
        self.lr = LinearSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return polynomial_value(
            t,
            self.init_value,
            self.init_minus_end,
            self.end_value,
            None,
            False,
            self.transition_steps,
            self.transition_begin,
        )


class WarmupConstantSchedule(AbstractOptaxSchedule):
    r"""Warm up linearly from `init_value` to `peak_value` over `warmup_steps` steps, then hold.

    $$\text{lr}_t = (I - P)\left(1 - \frac{\min(t, W)}{W}\right) + P$$

    with $I$ `init_value`, $P$ `peak_value`, $W$ `warmup_steps`. Mirrors
    `optax.warmup_constant_schedule` (a `linear_schedule`), bit for bit.

    **Arguments:**

    - `init_value`, `peak_value`: finite numbers.
    - `warmup_steps`: an integer `>= 0`. With `0` the lr is `init_value` throughout:
        optax's linear schedule holds its initial value when it has no steps, and this
        replicates it (use `ConstantSchedule(peak_value)` for no warm-up at all).

    **Differences from optax:** a negative `warmup_steps` is rejected (optax documents it
    as positive and would hold `init_value`); it must be an integer.

    **Precision:** under x64 it computes in float64 throughout, as optax does when called
    with a Python `int` count; called with its own `int32` step counter, optax computes
    `count / warmup_steps` in float32 there.
    """

    init_value: Float[Array, ""]
    peak_value: Float[Array, ""]
    warmup_steps: Int[Array, ""]
    init_minus_peak: Float[Array, ""] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int):
        call = "WarmupConstantSchedule"
        self.init_value = number(call, "init_value", init_value)
        self.peak_value = number(call, "peak_value", peak_value)
        self.warmup_steps = count(call, "warmup_steps", warmup_steps, low=0)
        self.init_minus_peak = host_or_traced(lambda a, b: a - b, init_value, peak_value)
        self.last_epoch = as_int(0)
        self.lr = WarmupConstantSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return polynomial_value(
            t,
            self.init_value,
            self.init_minus_peak,
            self.peak_value,
            None,
            False,
            self.warmup_steps,
            jnp.zeros_like(self.warmup_steps),
        )


def exponential_value(
    t: Int[Array, ""],
    init_value: Float[Array, ""],
    transition_steps: Int[Array, ""],
    decay_rate: Float[Array, ""],
    transition_begin: Int[Array, ""],
    staircase: bool,
    end_value: Float[Array, ""] | None,
    step: Int[Array, ""],
) -> Float[Array, ""]:
    """`optax.exponential_decay` at count `t` (`transition_begin` already clamped to `>= 0`).

    `step`: the scheduler's own count, see `opaque`.
    """
    dtype = init_value.dtype
    elapsed = t - transition_begin
    p = elapsed.astype(dtype) / opaque(jnp.maximum(transition_steps, 1).astype(dtype), step)
    if staircase:
        p = jnp.floor(p)
    value = jnp.where(elapsed <= 0, init_value, init_value * lax.pow(opaque(decay_rate, step), p))
    if end_value is not None:
        value = jnp.where(decay_rate < 1, jnp.maximum(value, end_value), jnp.minimum(value, end_value))
    return jnp.where((transition_steps <= 0) | (decay_rate == 0), init_value, value)


class ExponentialDecay(AbstractOptaxSchedule):
    r"""Decay exponentially: `init_value * decay_rate ** ((t - transition_begin) / transition_steps)`.

    $$\text{lr}_t = \begin{cases} I & t \le B \\ \operatorname{clip}_E\left(I\, r^{p}\right) & t > B \end{cases}
    \qquad p = \frac{t - B}{T}\ \text{(rounded down if \texttt{staircase})}$$

    with $I$ `init_value`, $r$ `decay_rate`, $T$ `transition_steps`, $B$ `transition_begin`
    and $E$ `end_value`: a lower bound when $r < 1$, an upper bound otherwise. Mirrors
    `optax.exponential_decay`, bit for bit.

    **Arguments:**

    - `init_value`: a finite number.
    - `transition_steps`: an integer; `<= 0` gives the constant `init_value`, as in optax.
    - `decay_rate`: finite and `>= 0`; `0` gives the constant `init_value`, as in optax.
    - `transition_begin`: an integer; negative values count as `0`, as in optax. Default `0`.
    - `staircase`: decay in discrete steps every `transition_steps`. Default `False`.
    - `end_value`: a finite bound, or `None` (default) for none.

    **Differences from optax:** a negative `decay_rate` is rejected (optax raises it to
    fractional powers, giving NaN); step counts must be integers. optax logs a message for
    the constant cases and a negative `transition_begin`; this does not.

    **Precision:** under x64 it computes in float64 throughout, as optax does when called
    with a Python `int` count; called with its own `int32` step counter, optax computes
    the decay in float32 there.
    """

    init_value: Float[Array, ""]
    transition_steps: Int[Array, ""]
    decay_rate: Float[Array, ""]
    transition_begin: Int[Array, ""]
    staircase: bool = eqx.field(static=True)
    end_value: Float[Array, ""] | None
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        init_value: ArrayLike,
        transition_steps: int,
        decay_rate: ArrayLike,
        transition_begin: int = 0,
        staircase: bool = False,
        end_value: ArrayLike | None = None,
    ):
        call = "ExponentialDecay"
        self.init_value = number(call, "init_value", init_value)
        self.transition_steps = count(call, "transition_steps", transition_steps, low=None)
        self.decay_rate = number(call, "decay_rate", decay_rate, low=0.0)
        self.transition_begin = jnp.maximum(count(call, "transition_begin", transition_begin, low=None), 0)
        self.staircase = flag(call, "staircase", staircase)
        self.end_value = None if end_value is None else number(call, "end_value", end_value)
        self.last_epoch = as_int(0)
        self.lr = ExponentialDecay._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return exponential_value(
            t,
            self.init_value,
            self.transition_steps,
            self.decay_rate,
            self.transition_begin,
            self.staircase,
            self.end_value,
            t,
        )


class WarmupExponentialDecaySchedule(AbstractOptaxSchedule):
    r"""Warm up linearly from `init_value` to `peak_value`, then decay exponentially.

    For $t < W$ (`warmup_steps`) the lr is `LinearSchedule(init_value, peak_value, W)`;
    from $t = W$ on it is `ExponentialDecay(peak_value, transition_steps, decay_rate,
    transition_begin, staircase, end_value)` at count $t - W$. Mirrors
    `optax.warmup_exponential_decay_schedule`, bit for bit.

    **Arguments:**

    - `init_value`, `peak_value`: finite numbers.
    - `warmup_steps`: an integer `>= 0`.
    - `transition_steps`, `decay_rate`, `transition_begin`, `staircase`, `end_value`: as
        in `ExponentialDecay` (the decay starts from `peak_value`).

    **Differences from optax:** a negative `warmup_steps` is rejected (optax documents it
    as positive; it would evaluate the decay at shifted counts); otherwise as
    `ExponentialDecay`, including the precision note.
    """

    init_value: Float[Array, ""]
    peak_value: Float[Array, ""]
    warmup_steps: Int[Array, ""]
    transition_steps: Int[Array, ""]
    decay_rate: Float[Array, ""]
    transition_begin: Int[Array, ""]
    staircase: bool = eqx.field(static=True)
    end_value: Float[Array, ""] | None
    init_minus_peak: Float[Array, ""] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        init_value: ArrayLike,
        peak_value: ArrayLike,
        warmup_steps: int,
        transition_steps: int,
        decay_rate: ArrayLike,
        transition_begin: int = 0,
        staircase: bool = False,
        end_value: ArrayLike | None = None,
    ):
        call = "WarmupExponentialDecaySchedule"
        self.init_value = number(call, "init_value", init_value)
        self.peak_value = number(call, "peak_value", peak_value)
        self.warmup_steps = count(call, "warmup_steps", warmup_steps, low=0)
        self.transition_steps = count(call, "transition_steps", transition_steps, low=None)
        self.decay_rate = number(call, "decay_rate", decay_rate, low=0.0)
        self.transition_begin = jnp.maximum(count(call, "transition_begin", transition_begin, low=None), 0)
        self.staircase = flag(call, "staircase", staircase)
        self.end_value = None if end_value is None else number(call, "end_value", end_value)
        self.init_minus_peak = host_or_traced(lambda a, b: a - b, init_value, peak_value)
        self.last_epoch = as_int(0)
        self.lr = WarmupExponentialDecaySchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        warmup = polynomial_value(
            t,
            self.init_value,
            self.init_minus_peak,
            self.peak_value,
            None,
            False,
            self.warmup_steps,
            jnp.zeros_like(self.warmup_steps),
        )
        decay = exponential_value(
            t - self.warmup_steps,
            self.peak_value,
            self.transition_steps,
            self.decay_rate,
            self.transition_begin,
            self.staircase,
            self.end_value,
            t,
        )
        return jnp.where(t < self.warmup_steps, warmup, decay)
