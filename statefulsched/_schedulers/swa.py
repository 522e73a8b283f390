"""`SWALR`: anneal the learning rate to a constant for stochastic weight averaging."""

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractScheduler, replace
from .._numerics import half_cosine_pair
from .._validation import choice, integer, per_group
from ._common import first_epoch, origin, start


class SWALR(AbstractScheduler):
    r"""Anneal each group's learning rate to `swa_lr` over `anneal_epochs` steps (torch.optim.swa_utils).

    $$\text{lr}_t = \alpha_t\,\text{swa\_lr} + (1 - \alpha_t)\,\text{lr}, \qquad
    \alpha_t = a\big(\min(1, t / \max(1, \text{anneal\_epochs}))\big)$$

    with `a(x) = (1 - cos(pi x)) / 2` for `"cos"` and `a(x) = x` for `"linear"`.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `swa_lr`: the target, a float or one per group, finite and `>= 0`.
    - `anneal_epochs`: an integer `>= 0`. Default `10`; `0` jumps to `swa_lr` at once.
    - `anneal_strategy`: `"cos"` (default) or `"linear"`.
    - `last_epoch`: `-1` (default), or `k >= 0`: `last_epoch` then counts from `k + 1`, while
        the annealing starts from the beginning, as in torch (which anneals by its own count of
        steps).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **In a `SequentialLR`:** like torch, it anneals from the lr the previous scheduler
    reached (the usual "switch to SWA at epoch k" set-up).
    """

    base_lr: Float[Array, "*groups"]
    swa_lr: Float[Array, "*groups"]
    anneal_epochs: Int[Array, ""]
    anneal_strategy: Literal["cos", "linear"] = eqx.field(static=True)
    # `k + 1` when built with `last_epoch=k`: torch anneals by its own step count, from 0
    # whatever `last_epoch` is; `None` otherwise.
    origin: Int[Array, ""] | None = eqx.field(repr=False)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _closed_form: ClassVar[bool] = True
    _continues_shared_lr: ClassVar[bool] = True

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        swa_lr: float | Sequence[float],
        anneal_epochs: int = 10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, n_groups, resume = start("SWALR", lr, last_epoch, verbose)
        self.swa_lr = per_group("SWALR", "swa_lr", swa_lr, n_groups, low=0.0)
        self.anneal_epochs = integer("SWALR", "anneal_epochs", anneal_epochs, low=0)
        self.anneal_strategy = choice("SWALR", "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.last_epoch = first_epoch(resume)
        self.origin = origin(None if resume is None else resume + 1)
        alpha, rest = SWALR._alpha(self, self.last_epoch)
        self.lr = self.swa_lr * alpha + self.base_lr * rest

    def _alpha(self, k: Int[Array, ""], back: int = 0) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The annealing weight `alpha` and `1 - alpha` at step `k` (the step before if `back=1`).

        `1 - alpha` is computed directly: subtracting from one would lose float32
        precision when `alpha` is close to one and `swa_lr` is much smaller than `lr`.
        """
        dtype = self.swa_lr.dtype
        if self.origin is not None:
            k = k - self.origin
        step = jnp.where(self.anneal_epochs == 0, jnp.maximum(k, 1), k) - back
        total = jnp.maximum(1, self.anneal_epochs)
        done = jnp.clip(step, 0, total)
        if self.anneal_strategy == "cos":
            # `alpha = sin(pi x / 2)**2` and `1 - alpha = cos(pi x / 2)**2`.
            rest, alpha = half_cosine_pair(done, total)
            return alpha, rest
        x = done.astype(dtype) / total.astype(dtype)
        rest = (total - done).astype(dtype) / total.astype(dtype)
        return x, rest

    def _advance(self, metric: Any) -> "SWALR":
        del metric
        t = self.last_epoch + 1
        alpha, rest = self._alpha(t)
        return replace(self, last_epoch=t, lr=self.swa_lr * alpha + self.base_lr * rest)

    def _swa_map(self, lr: Array, k: Int[Array, ""]) -> Array:
        """torch's `get_lr`: recover the pre-annealing lr from `lr`, then anneal it."""
        prev, prev_rest = self._alpha(k, back=1)
        start_lr = jnp.where(prev == 1, self.swa_lr, (lr - prev * self.swa_lr) / jnp.where(prev == 1, 1.0, prev_rest))
        alpha, rest = self._alpha(k)
        return self.swa_lr * alpha + start_lr * rest

    def _chain_init(self, lr: Array) -> Array:
        return self._swa_map(lr, self.last_epoch)

    def _chain(self, lr: Array, metric: Any) -> tuple["SWALR", Array]:
        del metric
        t = self.last_epoch + 1
        new_lr = self._swa_map(lr, t)
        return replace(self, last_epoch=t, lr=new_lr), new_lr

    def _enter(self, lr: Array) -> tuple["SWALR", Array]:
        new_lr = self._swa_map(lr, jnp.zeros_like(self.last_epoch))
        return replace(self, last_epoch=jnp.zeros_like(self.last_epoch), lr=new_lr), new_lr
