"""`ConstantLR` and `LinearLR`: the warm-up schedulers (a constant or linear factor)."""

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._numerics import as_int
from .._validation import integer, real
from ._common import start


class ConstantLR(AbstractMultiplicativeScheduler):
    r"""Scale the learning rate by a constant `factor` for the first `total_iters` steps.

    $$\text{lr}_t = \text{lr} \cdot \begin{cases} \text{factor} & t < \text{total\_iters} \\
    1 & \text{otherwise} \end{cases}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `factor`: in `(0, 1]`. Default `1/3`.
    - `total_iters`: a positive integer. Default `5`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Differences from torch:** `factor=0` is rejected (torch divides by it when the
    warm-up ends) and so is `total_iters=0` (torch then keeps the factor forever).
    """

    base_lr: Float[Array, "*groups"]
    factor: Float[Array, ""]
    total_iters: Int[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _ = start("ConstantLR", lr, last_epoch, verbose)
        self.factor = real("ConstantLR", "factor", factor, low=0.0, high=1.0, low_open=True)
        self.total_iters = integer("ConstantLR", "total_iters", total_iters)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * ConstantLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return jnp.where(t >= self.total_iters, jnp.ones_like(self.factor), self.factor)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return jnp.where(t == self.total_iters, 1.0 / self.factor, jnp.ones_like(self.factor))


class LinearLR(AbstractMultiplicativeScheduler):
    r"""Scale the learning rate by a factor moving linearly from `start_factor` to `end_factor`.

    $$\text{lr}_t = \text{lr} \cdot \Big(s + (e - s)\,\frac{\min(t, T)}{T}\Big)$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `start_factor`: in `(0, 1]`. Default `1/3`.
    - `end_factor`: in `[0, 1]`. Default `1.0`.
    - `total_iters`: `T`, a positive integer. Default `5`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Differences from torch:** `total_iters=0` is rejected (torch divides by it).
    """

    base_lr: Float[Array, "*groups"]
    start_factor: Float[Array, ""]
    end_factor: Float[Array, ""]
    total_iters: Int[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _ = start("LinearLR", lr, last_epoch, verbose)
        self.start_factor = real("LinearLR", "start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        self.end_factor = real("LinearLR", "end_factor", end_factor, low=0.0, high=1.0)
        self.total_iters = integer("LinearLR", "total_iters", total_iters)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * LinearLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        dtype = self.start_factor.dtype
        done = jnp.minimum(t, self.total_iters)
        # torch's `s + (e - s) * done / T`, written as a weighted mean so that `e << s`
        # loses no float32 precision at the end of the ramp.
        weight_end = done.astype(dtype) / self.total_iters.astype(dtype)
        weight_start = (self.total_iters - done).astype(dtype) / self.total_iters.astype(dtype)
        return self.start_factor * weight_start + self.end_factor * weight_end

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        # torch's `1 + (e - s) / (s T + (t - 1)(e - s))`, which is `factor(t) / factor(t - 1)`,
        # computed as that ratio of weighted sums (`T` times the factors): all terms are
        # `>= 0`, so nothing cancels. torch's form leaves a residue (an ulp of 1: 6e-8 in
        # float32) where the multiplier is 0, at the last step of a ramp to `end_factor=0`.
        dtype = self.start_factor.dtype
        live = jnp.minimum(t, self.total_iters)  # past the end the multiplier is 1
        after = self.start_factor * (self.total_iters - live).astype(dtype) + self.end_factor * live.astype(dtype)
        before = self.start_factor * (self.total_iters - live + 1).astype(dtype) + self.end_factor * (live - 1).astype(
            dtype
        )
        return jnp.where(t > self.total_iters, jnp.ones_like(after), after / before)
