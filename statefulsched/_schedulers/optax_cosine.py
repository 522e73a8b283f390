"""optax's cosine decay, warm-up cosine decay and SGDR (warm restarts) schedules."""

from collections.abc import Iterable, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._numerics import as_int
from .._validation import fail, is_traced
from ._optax_common import (
    INT32_MAX,
    AbstractOptaxSchedule,
    cosine_alpha,
    count,
    host_or_traced,
    is_integer_exponent,
    number,
    opaque,
    polynomial_value,
    power,
)


def cosine_value(
    t: Int[Array, ""],
    init_value: Float[Array, ""],
    decay_steps: Int[Array, ""],
    one_minus_alpha: Float[Array, ""],
    alpha: Float[Array, ""],
    exponent: Float[Array, ""],
    integer_exponent: bool | Array,
    step: Int[Array, ""],
) -> Float[Array, ""]:
    """`optax.cosine_decay_schedule` at count `t` (`step`: the scheduler's own count, see `opaque`)."""
    dtype = init_value.dtype
    done = jnp.minimum(t, decay_steps).astype(dtype)
    cosine = 0.5 * (1 + jnp.cos(jnp.pi * done / opaque(decay_steps.astype(dtype), step)))
    decayed = opaque(one_minus_alpha * power(cosine, exponent, integer_exponent, step), step) + alpha
    return init_value * decayed


def warmup_cosine_value(
    t: Int[Array, ""],
    init_value: Float[Array, ""],
    peak_value: Float[Array, ""],
    init_minus_peak: Float[Array, ""],
    warmup_steps: Int[Array, ""],
    decay_steps: Int[Array, ""],
    one_minus_alpha: Float[Array, ""],
    alpha: Float[Array, ""],
    exponent: Float[Array, ""],
    integer_exponent: bool | Array,
    step: Int[Array, ""],
) -> Float[Array, ""]:
    """`optax.warmup_cosine_decay_schedule` at count `t`: a linear warm-up joined to a cosine decay."""
    zero = jnp.zeros_like(warmup_steps)
    warmup = polynomial_value(t, init_value, init_minus_peak, peak_value, None, False, warmup_steps, zero)
    cosine = cosine_value(
        t - warmup_steps,
        peak_value,
        decay_steps - warmup_steps,
        one_minus_alpha,
        alpha,
        exponent,
        integer_exponent,
        step,
    )
    return jnp.where(t < warmup_steps, warmup, cosine)


class CosineDecaySchedule(AbstractOptaxSchedule):
    r"""Decay along a half cosine from `init_value` to `alpha * init_value` over `decay_steps` steps.

    $$\text{lr}_t = I\left((1 - \alpha)\left(\frac{1 + \cos(\pi \min(t, T) / T)}{2}\right)^{p} + \alpha\right)$$

    with $I$ `init_value`, $T$ `decay_steps`, $p$ `exponent`; held at $\alpha I$ after $T$
    steps. Mirrors `optax.cosine_decay_schedule`, bit for bit.

    **Arguments:**

    - `init_value`: a finite number.
    - `decay_steps`: a positive integer (optax raises on others too).
    - `alpha`: the final value as a fraction of `init_value`, finite. Default `0.0`.
    - `exponent`: finite and `>= 0`. Default `1.0`. A Python `int` exponent is applied by
        repeated multiplication, as `jnp.power` does (`integer_exponent`).

    **Differences from optax:** a negative `exponent` is rejected (optax gives inf or NaN
    at the end of the decay); `decay_steps` must be an integer.
    """

    init_value: Float[Array, ""]
    decay_steps: Int[Array, ""]
    alpha: Float[Array, ""]
    exponent: Float[Array, ""]
    one_minus_alpha: Float[Array, ""] = eqx.field(repr=False)
    integer_exponent: bool = eqx.field(static=True, repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, init_value: ArrayLike, decay_steps: int, alpha: ArrayLike = 0.0, exponent: ArrayLike = 1.0):
        call = "CosineDecaySchedule"
        self.init_value = number(call, "init_value", init_value)
        self.decay_steps = count(call, "decay_steps", decay_steps)
        self.alpha = number(call, "alpha", alpha)
        self.exponent = number(call, "exponent", exponent, low=0.0)
        self.integer_exponent = is_integer_exponent(exponent)
        self.one_minus_alpha = host_or_traced(lambda a: 1 - a, alpha)
        self.last_epoch = as_int(0)
        self.lr = CosineDecaySchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return cosine_value(
            t,
            self.init_value,
            self.decay_steps,
            self.one_minus_alpha,
            self.alpha,
            self.exponent,
            self.integer_exponent,
            t,
        )


def _check_decay_after_warmup(call: str, warmup_steps: Array, decay_steps: Array, name: str = "decay_steps") -> Array:
    """optax's cosine decay after the warm-up needs `decay_steps - warmup_steps > 0`."""
    message = f"`{call}({name}=...)` must be greater than `warmup_steps` (the cosine decay lasts the difference)"
    if is_traced(warmup_steps) or is_traced(decay_steps):
        return eqx.error_if(decay_steps, jnp.any(decay_steps <= warmup_steps), message + ".")
    if not bool(np.all(np.asarray(decay_steps) > np.asarray(warmup_steps))):
        raise ValueError(f"{message}, got {np.asarray(decay_steps).tolist()} <= {np.asarray(warmup_steps).tolist()}.")
    return decay_steps


class WarmupCosineDecaySchedule(AbstractOptaxSchedule):
    r"""Warm up linearly from `init_value` to `peak_value`, then decay along a cosine to `end_value`.

    For $t < W$ (`warmup_steps`): $\text{lr}_t = (I - P)(1 - t / W) + P$. From $t = W$ on:

    $$\text{lr}_t = P\left((1 - \alpha)\left(\frac{1 + \cos(\pi \min(t - W, D - W) / (D - W))}{2}\right)^{p}
    + \alpha\right), \qquad \alpha = E / P$$

    with $I$ `init_value`, $P$ `peak_value`, $D$ `decay_steps` (the whole schedule,
    warm-up included), $E$ `end_value`, $p$ `exponent`. Mirrors
    `optax.warmup_cosine_decay_schedule`, bit for bit.

    **Arguments:**

    - `init_value`, `peak_value`: finite numbers.
    - `warmup_steps`: an integer `>= 0`.
    - `decay_steps`: an integer greater than `warmup_steps` (optax raises otherwise too).
    - `end_value`: finite. Default `0.0`. As in optax, with `peak_value == 0` the decay
        is `0` throughout whatever `end_value` is (optax's `alpha` is then `0`).
    - `exponent`: finite and `>= 0`. Default `1.0` (a Python `int` exponent is applied by
        repeated multiplication, as `jnp.power` does).

    **Differences from optax:** negative `warmup_steps` and `exponent` are rejected (optax
    documents the first as positive and gives inf or NaN for the second); step counts
    must be integers. Unlike optax's, it can be built under `jax.vmap` over `peak_value`
    (optax branches on its value).

    **Precision:** under x64 it computes in float64 throughout, as optax does when called
    with a Python `int` count; called with its own `int32` step counter, optax computes
    the warm-up's `count / warmup_steps` in float32 there.
    """

    init_value: Float[Array, ""]
    peak_value: Float[Array, ""]
    warmup_steps: Int[Array, ""]
    decay_steps: Int[Array, ""]
    end_value: Float[Array, ""]
    exponent: Float[Array, ""]
    init_minus_peak: Float[Array, ""] = eqx.field(repr=False)
    one_minus_alpha: Float[Array, ""] = eqx.field(repr=False)
    alpha: Float[Array, ""]
    integer_exponent: bool = eqx.field(static=True, repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        init_value: ArrayLike,
        peak_value: ArrayLike,
        warmup_steps: int,
        decay_steps: int,
        end_value: ArrayLike = 0.0,
        exponent: ArrayLike = 1.0,
    ):
        call = "WarmupCosineDecaySchedule"
        self.init_value = number(call, "init_value", init_value)
        self.peak_value = number(call, "peak_value", peak_value)
        self.warmup_steps = count(call, "warmup_steps", warmup_steps, low=0)
        self.decay_steps = _check_decay_after_warmup(call, self.warmup_steps, count(call, "decay_steps", decay_steps))
        self.end_value = number(call, "end_value", end_value)
        self.exponent = number(call, "exponent", exponent, low=0.0)
        self.integer_exponent = is_integer_exponent(exponent)
        self.init_minus_peak = host_or_traced(lambda a, b: a - b, init_value, peak_value)
        self.one_minus_alpha, self.alpha = cosine_alpha(peak_value, end_value)
        self.last_epoch = as_int(0)
        self.lr = WarmupCosineDecaySchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return warmup_cosine_value(
            t,
            self.init_value,
            self.peak_value,
            self.init_minus_peak,
            self.warmup_steps,
            self.decay_steps,
            self.one_minus_alpha,
            self.alpha,
            self.exponent,
            self.integer_exponent,
            t,
        )


_REQUIRED = ("init_value", "peak_value", "warmup_steps", "decay_steps")
_OPTIONAL = {"end_value": 0.0, "exponent": 1.0}


class SGDRSchedule(AbstractOptaxSchedule):
    r"""SGD with warm restarts: warm-up cosine decay cycles, one after the other.

    Cycle $i$ is a `WarmupCosineDecaySchedule(**cosine_kwargs[i])`; it lasts its
    `decay_steps` and starts, at its own count 0, where the previous cycle ended. After the
    last cycle the lr stays at that cycle's final value. Mirrors `optax.sgdr_schedule`, bit
    for bit.

    **Arguments:**

    - `cosine_kwargs`: a non-empty iterable of dicts, one per cycle, with the arguments of
        `WarmupCosineDecaySchedule`: `init_value`, `peak_value`, `warmup_steps`,
        `decay_steps` (required), `end_value` and `exponent` (optional), with the same
        constraints. The cycles' hyperparameters are stored stacked (shape `(cycles,)`),
        with `boundaries` the steps where cycles 1, 2, ... start.

    **Differences from optax:** as `WarmupCosineDecaySchedule` (precision note included);
    an empty list, unknown keys and a total length beyond the int32 range are rejected.
    """

    init_value: Float[Array, " cycles"]
    peak_value: Float[Array, " cycles"]
    warmup_steps: Int[Array, " cycles"]
    decay_steps: Int[Array, " cycles"]
    end_value: Float[Array, " cycles"]
    exponent: Float[Array, " cycles"]
    init_minus_peak: Float[Array, " cycles"] = eqx.field(repr=False)
    one_minus_alpha: Float[Array, " cycles"] = eqx.field(repr=False)
    alpha: Float[Array, " cycles"]
    boundaries: Int[Array, " cycles-1"]
    integer_exponents: tuple[bool, ...] = eqx.field(static=True, repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, cosine_kwargs: Iterable[Mapping[str, Any]]):
        call = "SGDRSchedule"
        if isinstance(cosine_kwargs, (Mapping, str, bytes)) or not isinstance(cosine_kwargs, Iterable):
            raise fail(
                call, "cosine_kwargs", cosine_kwargs, "a list of dicts of `warmup_cosine_decay_schedule` arguments"
            )
        cycles = list(cosine_kwargs)
        if not cycles:
            raise fail(call, "cosine_kwargs", cosine_kwargs, "a non-empty list of dicts")
        derived = ("init_minus_peak", "one_minus_alpha", "alpha")
        columns: dict[str, list] = {name: [] for name in (*_REQUIRED, *_OPTIONAL, *derived)}
        integer_exponents = []
        for i, kwargs in enumerate(cycles):
            if not isinstance(kwargs, Mapping):
                raise fail(call, f"cosine_kwargs[{i}]", kwargs, "a dict of `warmup_cosine_decay_schedule` arguments")
            unknown = sorted(set(kwargs) - set(_REQUIRED) - set(_OPTIONAL))
            missing = [name for name in _REQUIRED if name not in kwargs]
            if unknown or missing:
                raise ValueError(
                    f"`{call}(cosine_kwargs[{i}]=...)` must give `init_value`, `peak_value`, `warmup_steps` and "
                    f"`decay_steps` and may give `end_value` and `exponent`; missing {missing}, unknown {unknown}."
                )
            given = {**_OPTIONAL, **kwargs}
            name = f"cosine_kwargs[{i}]['{{}}']"
            for key in ("init_value", "peak_value", "end_value"):
                columns[key].append(number(call, name.format(key), given[key]))
            columns["exponent"].append(number(call, name.format("exponent"), given["exponent"], low=0.0))
            warmup = count(call, name.format("warmup_steps"), given["warmup_steps"], low=0)
            columns["warmup_steps"].append(warmup)
            decay = count(call, name.format("decay_steps"), given["decay_steps"])
            columns["decay_steps"].append(_check_decay_after_warmup(call, warmup, decay, name.format("decay_steps")))
            integer_exponents.append(is_integer_exponent(given["exponent"]))
            columns["init_minus_peak"].append(
                host_or_traced(lambda a, b: a - b, given["init_value"], given["peak_value"])
            )
            one_minus_alpha, alpha = cosine_alpha(given["peak_value"], given["end_value"])
            columns["one_minus_alpha"].append(one_minus_alpha)
            columns["alpha"].append(alpha)
        stacked = {key: jnp.stack(values) for key, values in columns.items()}
        self.init_value = stacked["init_value"]
        self.peak_value = stacked["peak_value"]
        self.warmup_steps = stacked["warmup_steps"]
        self.decay_steps = stacked["decay_steps"]
        self.end_value = stacked["end_value"]
        self.exponent = stacked["exponent"]
        self.init_minus_peak = stacked["init_minus_peak"]
        self.one_minus_alpha = stacked["one_minus_alpha"]
        self.alpha = stacked["alpha"]
        self.integer_exponents = tuple(integer_exponents)
        if not is_traced(self.decay_steps) and int(np.sum(np.asarray(self.decay_steps, np.int64))) > INT32_MAX:
            raise fail(call, "cosine_kwargs", cosine_kwargs, "a list of cycles lasting at most 2**31 - 1 steps in all")
        self.boundaries = jnp.cumsum(self.decay_steps)[:-1].astype(self.decay_steps.dtype)
        self.last_epoch = as_int(0)
        self.lr = SGDRSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        i = jnp.sum(self.boundaries <= t)
        starts = jnp.concatenate([jnp.zeros((1,), self.boundaries.dtype), self.boundaries])
        flags = self.integer_exponents
        integer_exponent = flags[0] if len(set(flags)) == 1 else jnp.asarray(flags)[i]
        return warmup_cosine_value(
            t - starts[i],
            self.init_value[i],
            self.peak_value[i],
            self.init_minus_peak[i],
            self.warmup_steps[i],
            self.decay_steps[i],
            self.one_minus_alpha[i],
            self.alpha[i],
            self.exponent[i],
            integer_exponent,
            t,
        )
