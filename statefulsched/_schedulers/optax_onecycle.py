"""optax's one-cycle schedules (Smith & Topin), with cosine or linear phases."""

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._numerics import as_float, as_int, float_dtype
from .._validation import is_traced
from ._optax_common import AbstractOptaxSchedule, check_finite, count, host_or_traced, interpolate_value, number


def _onecycle_table(
    transition_steps: Any, pcts: Sequence[Any], init_value: Array, scales: Sequence[Array]
) -> tuple[Int[Array, " k"], Float[Array, " k+1"]]:
    """The boundaries and cumulative values of optax's one-cycle dict.

    optax builds `{int(pcts[0] * transition_steps): scales[0], ..., transition_steps:
    scales[-1]}`: steps that coincide collapse into one entry holding the later scale.
    A collapsed entry is kept here as a leading boundary at step 0 whose interval is empty,
    so the arrays have a fixed length.
    """
    n = len(scales)
    if not is_traced(transition_steps) and not any(is_traced(p) for p in pcts):
        table: dict[int, Array] = {}
        for pct, scale in zip(pcts, scales[:-1]):
            table[int(pct * transition_steps)] = scale
        table[int(transition_steps)] = scales[-1]
        steps, kept = zip(*sorted(table.items()))
        values = jnp.cumprod(jnp.stack([init_value, *kept]))
        pad = n - len(steps)
        values = jnp.concatenate([jnp.broadcast_to(values[:1], (pad,)), values])
        return as_int([0] * pad + list(steps)), values
    # Traced: the steps are computed in the working dtype and collapsed entries become
    # (0, scale 1) at the front. The cumulative products are then taken in another order
    # than optax's, so values can differ from it in the last bit.
    ts = as_int(transition_steps)
    steps = jnp.stack([jnp.floor(as_float(p) * ts.astype(float_dtype())).astype(ts.dtype) for p in pcts] + [ts])
    factors = jnp.stack(list(scales))
    collapsed = jnp.concatenate([steps[:-1] == steps[1:], jnp.zeros((1,), bool)])
    steps = jnp.where(collapsed, 0, steps)
    factors = jnp.where(collapsed, 1.0, factors).astype(factors.dtype)
    order = jnp.argsort(steps, stable=True)
    return steps[order], jnp.cumprod(jnp.concatenate([init_value[None], factors[order]]))


def _check_order(call: str, pct_start: Any, pct_final: Any, leaf: Array) -> Array:
    """`pct_final >= pct_start`, checked on the values given (`leaf`: `pct_final`'s leaf)."""
    message = f"`{call}(pct_final=...)` must be at least `pct_start`"
    if is_traced(pct_start) or is_traced(pct_final):
        return eqx.error_if(leaf, as_float(pct_final) < as_float(pct_start), message + ".")
    if float(pct_final) < float(pct_start):
        raise ValueError(f"{message} ({pct_start!r}), got {pct_final!r}.")
    return leaf


class CosineOnecycleSchedule(AbstractOptaxSchedule):
    r"""The one-cycle policy with cosine phases: up to `peak_value`, then far below the start.

    The lr starts at $P / d$ (`peak_value / div_factor`), rises along a half cosine to
    $P$ at step $\lfloor s T \rfloor$ (`pct_start * transition_steps`, rounded down), then
    falls along a half cosine to $P / (d f)$ at step $T$ (`f = final_div_factor`) and stays
    there. It is optax's `piecewise_interpolate_schedule("cosine", P / d,
    {int(s T): d, T: 1 / (d f)})`, so the peak is $(P / d) \cdot d$, which can differ from
    $P$ in the last bit. Mirrors `optax.cosine_onecycle_schedule`, bit for bit.

    **Arguments:**

    - `transition_steps`: a positive integer (optax raises on others too).
    - `peak_value`: a finite number.
    - `pct_start`: the fraction of the steps spent rising, in `[0, 1]`. Default `0.3`.
    - `div_factor`: the initial value is `peak_value / div_factor`; finite and `> 0`.
        Default `25.0`.
    - `final_div_factor`: the final value is the initial one over `final_div_factor`;
        finite and `> 0`. Default `1e4`.

    Stored besides: `boundaries` and `boundary_values` (the steps and values between which
    the cosine interpolates).

    **Differences from optax:** `pct_start` outside `[0, 1]` and non-positive factors are
    rejected (optax builds out-of-order or infinite phases from them); `transition_steps`
    must be an integer. Built under `jax.vmap` over `transition_steps` or `pct_start`, the
    phase boundary is computed in the working dtype rather than in Python floats.
    """

    transition_steps: Int[Array, ""]
    peak_value: Float[Array, ""]
    pct_start: Float[Array, ""]
    div_factor: Float[Array, ""]
    final_div_factor: Float[Array, ""]
    boundaries: Int[Array, " 2"]
    boundary_values: Float[Array, " 3"] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        transition_steps: int,
        peak_value: ArrayLike,
        pct_start: ArrayLike = 0.3,
        div_factor: ArrayLike = 25.0,
        final_div_factor: ArrayLike = 1e4,
    ):
        call = "CosineOnecycleSchedule"
        self.transition_steps = count(call, "transition_steps", transition_steps)
        self.peak_value = number(call, "peak_value", peak_value)
        self.pct_start = number(call, "pct_start", pct_start, low=0.0, high=1.0)
        self.div_factor = number(call, "div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = number(call, "final_div_factor", final_div_factor, low=0.0, low_open=True)
        init_value = host_or_traced(lambda p, d: p / d, peak_value, div_factor)
        scales = [self.div_factor, host_or_traced(lambda d, f: 1.0 / (d * f), div_factor, final_div_factor)]
        self.boundaries, self.boundary_values = _onecycle_table(transition_steps, [pct_start], init_value, scales)
        check_finite(call, self.boundary_values, "the value at a phase boundary")
        self.last_epoch = as_int(0)
        self.lr = CosineOnecycleSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return interpolate_value(t, self.boundaries, self.boundary_values, cosine=True)


class LinearOnecycleSchedule(AbstractOptaxSchedule):
    r"""The one-cycle policy with three linear phases.

    The lr starts at $P / d$ (`peak_value / div_factor`), rises linearly to $P$ at step
    $\lfloor s T \rfloor$ (`pct_start * transition_steps`), falls back to $P / d$ at step
    $\lfloor s_f T \rfloor$ (`pct_final`), then to $P / f$ at step $T$ (`f =
    final_div_factor`) and stays there. It is optax's `piecewise_interpolate_schedule(
    "linear", P / d, {int(s T): d, int(s_f T): 1 / d, T: 1 / f})`, so these values are
    cumulative products that can differ from $P$ and $P / d$ in the last bit. Mirrors
    `optax.linear_onecycle_schedule`, bit for bit.

    **Arguments:**

    - `transition_steps`: a positive integer (optax raises on others too).
    - `peak_value`: a finite number.
    - `pct_start`: where the rise ends, as a fraction of the steps, in `[0, 1]`. Default `0.3`.
    - `pct_final`: where the fall back to the initial value ends, in `[pct_start, 1]`.
        Default `0.85`.
    - `div_factor`: the initial value is `peak_value / div_factor`; finite and `> 0`.
        Default `25.0`.
    - `final_div_factor`: the final value is the *initial value scaled by*
        `1 / final_div_factor` after the fall, i.e. `(P / d) * d * (1 / d) * (1 / f)`;
        finite and `> 0`. Default `1e4`.

    Stored besides: `boundaries` and `boundary_values` (the steps and values between which
    the lr is interpolated).

    **Differences from optax:** `pct_start` and `pct_final` outside `0 <= pct_start <=
    pct_final <= 1` and non-positive factors are rejected (optax builds out-of-order or
    infinite phases from them); `transition_steps` must be an integer. Built under
    `jax.vmap` over `transition_steps` or the fractions, the phase boundaries are computed
    in the working dtype rather than in Python floats.
    """

    transition_steps: Int[Array, ""]
    peak_value: Float[Array, ""]
    pct_start: Float[Array, ""]
    pct_final: Float[Array, ""]
    div_factor: Float[Array, ""]
    final_div_factor: Float[Array, ""]
    boundaries: Int[Array, " 3"]
    boundary_values: Float[Array, " 4"] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        transition_steps: int,
        peak_value: ArrayLike,
        pct_start: ArrayLike = 0.3,
        pct_final: ArrayLike = 0.85,
        div_factor: ArrayLike = 25.0,
        final_div_factor: ArrayLike = 1e4,
    ):
        call = "LinearOnecycleSchedule"
        self.transition_steps = count(call, "transition_steps", transition_steps)
        self.peak_value = number(call, "peak_value", peak_value)
        self.pct_start = number(call, "pct_start", pct_start, low=0.0, high=1.0)
        self.pct_final = _check_order(
            call, pct_start, pct_final, number(call, "pct_final", pct_final, low=0.0, high=1.0)
        )
        self.div_factor = number(call, "div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = number(call, "final_div_factor", final_div_factor, low=0.0, low_open=True)
        init_value = host_or_traced(lambda p, d: p / d, peak_value, div_factor)
        scales = [
            self.div_factor,
            host_or_traced(lambda d: 1.0 / d, div_factor),
            host_or_traced(lambda f: 1.0 / f, final_div_factor),
        ]
        self.boundaries, self.boundary_values = _onecycle_table(
            transition_steps, [pct_start, pct_final], init_value, scales
        )
        check_finite(call, self.boundary_values, "the value at a phase boundary")
        self.last_epoch = as_int(0)
        self.lr = LinearOnecycleSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return interpolate_value(t, self.boundaries, self.boundary_values, cosine=False)
