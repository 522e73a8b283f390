"""`ExponentialLR` and `PolynomialLR`: smooth decays by a closed-form factor."""

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._errors import TorchZeroDivisionError
from .._numerics import as_float, as_int, pow_via_log
from .._validation import integer, is_traced, real, steps, warn
from ._common import decay_factor, first_epoch, is_zero, origin, resumed, start


class ExponentialLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` every step.

    $$\text{lr}_t = \text{lr} \cdot \gamma^t$$

    Evaluated as `exp(t * log(gamma))` with the logarithm taken in float64 when `gamma`
    is a Python number, so 10,000 float32 steps stay within `1e-6` of the exact value.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `gamma`: finite and `>= 0` (`> 1` grows the lr, as in an lr range test; `0` warns).
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k` (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Differences from torch:** a negative `gamma` (a sign-alternating lr) is refused.
    """

    base_lr: Float[Array, "*groups"]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""] = eqx.field(repr=False)
    origin: Int[Array, ""] | None = eqx.field(repr=False)  # see `StepLR`
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(self, lr: ArrayLike | Sequence[float], gamma: float, last_epoch: int = -1, verbose="deprecated"):
        self.base_lr, _, resume = start("ExponentialLR", lr, last_epoch, verbose)
        self.gamma, self.log_gamma = decay_factor("ExponentialLR", "gamma", gamma)
        # torch's constructor steps from epoch `k` to `k + 1` without changing the lr.
        self.origin = origin(None if resume is None else resume + 1)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * ExponentialLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, t if self.origin is None else t - self.origin)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        del t
        return self.gamma


class PolynomialLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate polynomially to zero over `total_iters` steps.

    $$\text{lr}_t = \text{lr} \cdot \Big(1 - \frac{\min(t, T)}{T}\Big)^{\text{power}}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `total_iters`: `T`, a number of steps `>= 0`. Default `5`.
    - `power`: finite. Default `1.0`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k` (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **As in torch:** `total_iters=0` never decays, and a fractional `T` stops the decay after
    `floor(T)` steps, at `(1 - floor(T) / T) ** power` (both warn); a fractional `T` is kept as a
    float. **Differences from torch:** a negative `power` with a decay that reaches 0 is refused
    with a `ZeroDivisionError` (torch's at that step); one that does not (a fractional `T`) grows
    the lr, and warns.
    """

    base_lr: Float[Array, "*groups"]
    # An `int32` step count, or a float when fractional (torch then stops at `floor(T)`).
    total_iters: Int[Array, ""] | Float[Array, ""]
    power: Float[Array, ""]
    idle: bool = eqx.field(static=True, repr=False)  # see `ConstantLR`
    origin: Int[Array, ""] | None = eqx.field(repr=False)  # see `StepLR`
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        call = "PolynomialLR"
        self.base_lr, _, resume = start(call, lr, last_epoch, verbose)
        self.power = real(call, "power", power)
        self.idle = is_zero(total_iters)
        if is_traced(total_iters):
            self.total_iters = integer(call, "total_iters", total_iters)
        else:
            value = steps(call, "total_iters", total_iters)
            reached = (-1 if resume is None else resume + 1) < value
            if value == 0:
                warn(call, "total_iters", total_iters, "torch never decays the learning rate then.")
            elif isinstance(value, float):
                left = 1 - np.floor(value) / value
                warn(
                    call,
                    "total_iters",
                    total_iters,
                    f"torch stops the decay after {int(value)} steps, at the factor {float(left) ** float(power)!r}.",
                )
            if not is_traced(power) and float(power) < 0 and reached:
                if isinstance(value, int) and value > 0:
                    raise TorchZeroDivisionError(
                        f"`{call}(power=...)` must be >= 0 when the decay reaches 0 (total_iters={total_iters!r}): "
                        f"torch divides by zero there, got {power!r}."
                    )
                if isinstance(value, float):
                    warn(call, "power", power, "a negative power makes the learning rate grow.")
            self.total_iters = as_float(value) if isinstance(value, float) else as_int(value)
        # torch's constructor steps from epoch `k` to `k + 1` without changing the lr.
        self.origin = origin(None if resume is None else resume + 1)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * PolynomialLR._factor_at(self, self.last_epoch)

    def _left(self, t: Int[Array, ""]) -> tuple[Array, Array]:
        """`T - min(t, floor(T))` and `T` in the working float dtype (exact for an integer `T`)."""
        dtype = self.power.dtype
        total = self.total_iters
        if jnp.issubdtype(total.dtype, jnp.integer):
            return (total - jnp.minimum(t, total)).astype(dtype), total.astype(dtype)
        whole = jnp.floor(total).astype(t.dtype)
        return total - jnp.minimum(t, whole).astype(dtype), total

    def _polynomial_factor(self, t: Int[Array, ""]) -> Float[Array, ""]:
        left, total = self._left(t)
        never = total == 0
        return jnp.where(never, 1.0, jnp.power(left / jnp.where(never, 1.0, total), self.power))

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return resumed(self._polynomial_factor, t, self.origin)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        left, total = self._left(t)
        past = t.astype(total.dtype) > total
        before = jnp.where(past, 1.0, left + 1)
        ratio = jnp.power(left / before, self.power)
        return jnp.where(past, jnp.ones_like(ratio), ratio)
