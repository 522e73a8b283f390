"""optax's piecewise constant and piecewise interpolated schedules."""

from collections.abc import Mapping
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._numerics import as_int
from .._validation import choice
from ._optax_common import AbstractOptaxSchedule, check_finite, interpolate_value, number, scale_items


class PiecewiseConstantSchedule(AbstractOptaxSchedule):
    r"""Multiply the learning rate by a scale at each of the given steps.

    $$\text{lr}_t = I \prod_{i:\, b_i \le t} s_i$$

    with $I$ `init_value` and `boundaries_and_scales` $= \{b_i: s_i\}$, the products taken
    in order of the steps. Mirrors `optax.piecewise_constant_schedule`, bit for bit.

    **Arguments:**

    - `init_value`: a finite number.
    - `boundaries_and_scales`: a dict `{step: scale}` (integer steps, finite scales
        `>= 0`), or `None` (default) for a constant schedule. Stored as the sorted
        `boundaries` and their `scales`, with `boundary_values` the lr from each boundary on
        (`init_value` first).

    **Differences from optax:** steps must be integers and scales finite (optax gives a
    NaN lr before the step of an infinite scale).
    """

    init_value: Float[Array, ""]
    boundaries: Int[Array, " k"]
    scales: Float[Array, " k"]
    boundary_values: Float[Array, " k+1"] = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(self, init_value: ArrayLike, boundaries_and_scales: Mapping[int, float] | None = None):
        call = "PiecewiseConstantSchedule"
        self.init_value = number(call, "init_value", init_value)
        self.boundaries, self.scales = scale_items(call, boundaries_and_scales)
        # optax multiplies the scales in one at a time, in order of the steps: so does this.
        values = [self.init_value]
        for i in range(self.scales.shape[0]):
            values.append(self.scales[i] * values[-1])
        self.boundary_values = jnp.stack(values)
        check_finite(call, self.boundary_values, "the product of `init_value` and the scales")
        self.last_epoch = as_int(0)
        self.lr = PiecewiseConstantSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return self.boundary_values[jnp.sum(self.boundaries <= t)]


class PiecewiseInterpolateSchedule(AbstractOptaxSchedule):
    r"""Interpolate, linearly or along a half cosine, between values scaled at the given steps.

    The value at step $b_i$ is $v_i = I \prod_{j \le i} s_j$ (the scales accumulate, as
    in `PiecewiseConstantSchedule`); between $b_{i-1}$ and $b_i$ (with $b_0 = 0$) the lr
    moves from $v_{i-1}$ to $v_i$, and after the last step it stays at the last value:

    $$\text{lr}_t = v_{i-1} + (v_i - v_{i-1})\,\frac{t - b_{i-1}}{b_i - b_{i-1}} \quad\text{or}\quad
    v_i + \frac{v_{i-1} - v_i}{2}\left(1 + \cos\left(\pi\,\frac{t - b_{i-1}}{b_i - b_{i-1}}\right)\right)$$

    Mirrors `optax.piecewise_interpolate_schedule`, bit for bit.

    **Arguments:**

    - `interpolate_type`: `"linear"` or `"cosine"`.
    - `init_value`: a finite number.
    - `boundaries_and_scales`: a dict `{step: scale}` (integer steps, finite scales
        `>= 0`), or `None` (default) for a constant schedule. Stored as the sorted
        `boundaries`, their `scales`, and `boundary_values` (the cumulative products,
        starting with `init_value`).

    **Differences from optax:** steps must be integers and scales finite.
    """

    init_value: Float[Array, ""]
    boundaries: Int[Array, " k"]
    scales: Float[Array, " k"]
    boundary_values: Float[Array, " k+1"] = eqx.field(repr=False)
    interpolate_type: Literal["linear", "cosine"] = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    def __init__(
        self,
        interpolate_type: Literal["linear", "cosine"],
        init_value: ArrayLike,
        boundaries_and_scales: Mapping[int, float] | None = None,
    ):
        call = "PiecewiseInterpolateSchedule"
        self.interpolate_type = choice(call, "interpolate_type", interpolate_type, ("linear", "cosine"))  # type: ignore[assignment]
        self.init_value = number(call, "init_value", init_value)
        self.boundaries, self.scales = scale_items(call, boundaries_and_scales)
        self.boundary_values = jnp.cumprod(jnp.concatenate([self.init_value[None], self.scales]))
        check_finite(call, self.boundary_values, "the product of `init_value` and the scales")
        self.last_epoch = as_int(0)
        self.lr = PiecewiseInterpolateSchedule._value_at(self, self.last_epoch)

    def _value_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return interpolate_value(t, self.boundaries, self.boundary_values, self.interpolate_type == "cosine")
