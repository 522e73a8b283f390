"""`CosineAnnealingLR` and `CosineAnnealingWarmRestarts`."""

from collections.abc import Sequence
from typing import Any, ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractOverridingScheduler, AbstractScheduler, replace
from .._numerics import as_int, floor_divmod, half_cosine, half_cosine_pair
from .._validation import integer, real
from ._common import start


class CosineAnnealingLR(AbstractScheduler):
    r"""Anneal the learning rate along a cosine from `lr` to `eta_min` over `T_max` steps.

    $$\text{lr}_t = \eta_{min} + (\text{lr} - \eta_{min})\,\frac{1 + \cos(\pi t / T_{max})}{2}$$

    Past `T_max` the curve continues periodically (back up over the next `T_max` steps),
    exactly as torch's does.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `T_max`: half period, a positive integer.
    - `eta_min`: the minimum learning rate, finite and `>= 0`. Default `0.0`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Chaining:** standalone, the closed form above is used (torch's recursive form
    equals it up to rounding). Inside a `ChainedScheduler` the recursive form is replayed,
    including torch's additive step one past each minimum, which ignores the factors of the
    other chained schedulers: see the README.
    """

    base_lr: Float[Array, "*groups"]
    T_max: Int[Array, ""]
    eta_min: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _closed_form: ClassVar[bool] = True

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        T_max: int,
        eta_min: float = 0.0,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _ = start("CosineAnnealingLR", lr, last_epoch, verbose)
        self.T_max = integer("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = real("CosineAnnealingLR", "eta_min", eta_min, low=0.0)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr

    def _advance(self, metric: Any) -> "CosineAnnealingLR":
        del metric
        t = self.last_epoch + 1
        lr = self.eta_min + (self.base_lr - self.eta_min) * half_cosine(t, self.T_max)
        return replace(self, last_epoch=t, lr=lr)

    def _chain_init(self, lr: Array) -> Array:
        return lr

    def _chain(self, lr: Array, metric: Any) -> tuple["CosineAnnealingLR", Array]:
        del metric
        t = self.last_epoch + 1
        # torch's `(t - 1 - T_max) % (2 T_max) == 0`: `t - 1` an odd multiple of `T_max`.
        half_periods, rem = floor_divmod(t - 1, self.T_max)
        wrap = (rem == 0) & ((half_periods & 1) == 1)
        rise = (self.base_lr - self.eta_min) * half_cosine_pair(jnp.ones_like(t), self.T_max)[1]
        below = half_cosine(t - 1, self.T_max)
        ratio = half_cosine(t, self.T_max) / jnp.where(wrap, 1.0, below)
        new_lr = jnp.where(wrap, lr + rise, ratio * (lr - self.eta_min) + self.eta_min)
        return replace(self, last_epoch=t, lr=new_lr), new_lr


class CosineAnnealingWarmRestarts(AbstractOverridingScheduler):
    r"""Cosine annealing with warm restarts (SGDR).

    $$\text{lr}_t = \eta_{min} + (\text{lr} - \eta_{min})\,\frac{1 + \cos(\pi T_{cur} / T_i)}{2}$$

    `T_cur` counts the steps since the last restart; the `i`-th period lasts
    `T_i = T_0 * T_mult**i` steps.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `T_0`: length of the first period, a positive integer.
    - `T_mult`: growth factor of the periods, an integer `>= 1`. Default `1`.
    - `eta_min`: the minimum learning rate, finite and `>= 0`. Default `0.0`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Attributes:** besides `lr` and `last_epoch`, `T_cur` and `T_i` (`int32`), as in
    torch. `step` takes no fractional epochs (torch's `step(epoch)` is deprecated there).
    """

    base_lr: Float[Array, "*groups"]
    T_0: Int[Array, ""]
    T_mult: Int[Array, ""]
    eta_min: Float[Array, ""]
    last_epoch: Int[Array, ""]
    T_cur: Int[Array, ""]
    T_i: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "T_cur", "T_i", "lr")

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        call = "CosineAnnealingWarmRestarts"
        self.base_lr, _ = start(call, lr, last_epoch, verbose)
        self.T_0 = integer(call, "T_0", T_0)
        self.T_mult = integer(call, "T_mult", T_mult)
        self.eta_min = real(call, "eta_min", eta_min, low=0.0)
        self.last_epoch = as_int(0)
        self.T_cur = as_int(0)
        self.T_i = self.T_0
        self.lr = self.eta_min + (self.base_lr - self.eta_min) * half_cosine_pair(self.T_cur, self.T_i)[0]

    def _advance(self, metric: Any) -> "CosineAnnealingWarmRestarts":
        del metric
        t_cur = self.T_cur + 1
        restart = t_cur >= self.T_i
        t_cur = jnp.where(restart, t_cur - self.T_i, t_cur)
        t_i = jnp.where(restart, self.T_i * self.T_mult, self.T_i)
        # `0 <= t_cur < t_i`, so no reduction is needed.
        lr = self.eta_min + (self.base_lr - self.eta_min) * half_cosine_pair(t_cur, t_i)[0]
        return replace(self, last_epoch=self.last_epoch + 1, T_cur=t_cur, T_i=t_i, lr=lr)
