"""`ExponentialLR` and `PolynomialLR`: smooth decays by a closed-form factor."""

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._numerics import as_int, log_of, pow_via_log
from .._validation import integer, is_traced, real
from ._common import start


class ExponentialLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` every step.

    $$\text{lr}_t = \text{lr} \cdot \gamma^t$$

    Evaluated as `exp(t * log(gamma))` with the logarithm taken in float64 when `gamma`
    is a Python number, so 10,000 float32 steps stay within `1e-6` of the exact value.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `gamma`: finite and `> 0` (`> 1` grows the lr, as in an lr range test).
    - `last_epoch`, `verbose`: accepted for compatibility with torch.
    """

    base_lr: Float[Array, "*groups"]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(self, lr: ArrayLike | Sequence[float], gamma: float, last_epoch: int = -1, verbose="deprecated"):
        self.base_lr, _ = start("ExponentialLR", lr, last_epoch, verbose)
        self.gamma = real("ExponentialLR", "gamma", gamma, low=0.0, low_open=True)
        self.log_gamma = log_of(self.gamma if is_traced(gamma) else gamma)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * ExponentialLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, t)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        del t
        return self.gamma


class PolynomialLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate polynomially to zero over `total_iters` steps.

    $$\text{lr}_t = \text{lr} \cdot \Big(1 - \frac{\min(t, T)}{T}\Big)^{\text{power}}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `total_iters`: `T`, a positive integer. Default `5`.
    - `power`: finite and `>= 0`. Default `1.0`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Differences from torch:** negative `power` is rejected (torch divides by zero).
    """

    base_lr: Float[Array, "*groups"]
    total_iters: Int[Array, ""]
    power: Float[Array, ""]
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
        self.base_lr, _ = start("PolynomialLR", lr, last_epoch, verbose)
        self.total_iters = integer("PolynomialLR", "total_iters", total_iters)
        self.power = real("PolynomialLR", "power", power, low=0.0)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * PolynomialLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        left = (self.total_iters - jnp.minimum(t, self.total_iters)).astype(self.power.dtype)
        return jnp.power(left / self.total_iters, self.power)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        dtype = self.power.dtype
        past = t > self.total_iters
        left = (self.total_iters - t).astype(dtype)
        before = jnp.where(past, 1.0, (self.total_iters - t + 1).astype(dtype))
        ratio = jnp.power(left / before, self.power)
        return jnp.where(past, jnp.ones_like(ratio), ratio)
