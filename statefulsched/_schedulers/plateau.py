"""`ReduceLROnPlateau`: cut the learning rate when a metric stops improving."""

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractScheduler, replace
from .._numerics import as_float, as_int
from .._validation import choice, fail, integer, is_traced, per_group, real, steps, warn
from ._common import start


class ReduceLROnPlateau(AbstractScheduler):
    r"""Reduce the learning rate by `factor` once the metric has not improved for `patience` steps.

    Each `step(metric)` compares `metric` with the best value so far. In `"min"` mode with
    `threshold_mode="rel"` an improvement means `metric < best * (1 - threshold)`
    (`"abs"`: `metric < best - threshold`; `"max"` mode mirrors both). After more than
    `patience` steps without improvement each group's lr becomes
    `max(lr * factor, min_lr)`, unless that changes it by no more than `eps`; then
    `cooldown` steps pass during which bad steps are not counted.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `mode`: `"min"` (default) or `"max"`.
    - `factor`: below 1 (torch raises otherwise). Default `0.1`. A negative one (a reduction
        to `min_lr`) warns.
    - `patience`: a number of steps `>= 0`. Default `10`.
    - `threshold`: finite; a negative one warns. Default `1e-4`.
    - `threshold_mode`: `"rel"` (default) or `"abs"`.
    - `cooldown`: a number of steps `>= 0`. Default `0`.
    - `min_lr`: a float or one per group, finite. Default `0`.
    - `eps`: finite. Default `1e-8`.

    A fractional `patience` or `cooldown` acts as torch's comparisons make it act (`2.5` as 2
    and 3 steps), with a warning; the attributes hold those whole numbers.
    - `verbose`: accepted for compatibility with torch.

    **Attributes:** `lr`, `last_epoch`, `best`, `num_bad_epochs`, `cooldown_counter`.

    **NaN metrics:** as in torch, a NaN metric is never an improvement: it counts as a bad
    step and leaves `best` unchanged, so a run that diverges to NaN has its lr reduced
    after `patience` more steps. The lr itself never becomes NaN.

    **Precision:** comparisons are made in the working float dtype. In float32 a metric
    within float32 rounding of the improvement threshold can be judged differently from
    torch (which compares in float64); with `jax_enable_x64` the decisions are torch's.

    **In a `SequentialLR` or `ChainedScheduler`:** supported, unlike in torch; the metric
    passed to the composite's `step` is forwarded to it (so the composite then needs a
    metric on every step). In a `SequentialLR` it starts, at its milestone, from its
    initial state: lr back at `lr` (the end of a warm-up), fresh `best` and counters; the
    metric of that step is not counted.
    """

    base_lr: Float[Array, "*groups"]
    factor: Float[Array, ""]
    patience: Int[Array, ""]
    threshold: Float[Array, ""]
    rel_epsilon: Float[Array, ""] = eqx.field(repr=False)
    cooldown: Int[Array, ""]
    min_lr: Float[Array, "*groups"]
    eps: Float[Array, ""]
    mode: Literal["min", "max"] = eqx.field(static=True)
    threshold_mode: Literal["rel", "abs"] = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]
    best: Float[Array, ""]
    num_bad_epochs: Int[Array, ""]
    cooldown_counter: Int[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "best", "num_bad_epochs", "cooldown_counter")
    _uses_metric: ClassVar[bool] = True

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
        verbose="deprecated",
    ):
        call = "ReduceLROnPlateau"
        self.base_lr, n_groups, _ = start(call, lr, -1, verbose)
        self.lr = self.base_lr
        self.mode = choice(call, "mode", mode, ("min", "max"))
        self.threshold_mode = choice(call, "threshold_mode", threshold_mode, ("rel", "abs"))
        self.factor = real(call, "factor", factor, high=1.0, high_open=True)
        self.patience = _count(call, "patience", patience, np.floor, "torch reduces after more than {} bad steps")
        self.threshold = real(call, "threshold", threshold)
        if not is_traced(threshold) and float(threshold) < 0:
            why = "a metric slightly worse than the best counts as an improvement, so the lr may never be reduced."
            warn(call, "threshold", threshold, why)
        # torch's `1 - threshold` ("min") or `1 + threshold` ("max"), computed in float64
        # like torch's Python floats, then rounded once.
        sign = -1.0 if self.mode == "min" else 1.0
        if is_traced(threshold):
            self.rel_epsilon = 1.0 + sign * self.threshold
        else:
            self.rel_epsilon = as_float(1.0 + sign * np.asarray(threshold, np.float64))
        self.cooldown = _count(call, "cooldown", cooldown, np.ceil, "torch counts it down for {} steps")
        self.min_lr = per_group(call, "min_lr", min_lr, n_groups)
        self.eps = real(call, "eps", eps)
        if not is_traced((factor, min_lr)) and float(factor) < 0:
            if bool((np.asarray(self.min_lr) < 0).any()):
                raise fail(call, "factor", factor, "in [0, 1) with a negative `min_lr` (the lr would become negative)")
            warn(call, "factor", factor, "`lr * factor` is negative, so a reduction sets the lr to `min_lr`.")
        self.last_epoch = as_int(0)
        self.best = as_float(jnp.inf if mode == "min" else -jnp.inf)
        self.num_bad_epochs = as_int(0)
        self.cooldown_counter = as_int(0)

    @property
    def in_cooldown(self) -> Array:
        return self.cooldown_counter > 0

    def _is_better(self, current: Array) -> Array:
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < self.best * self.rel_epsilon
        if self.mode == "min":
            return current < self.best - self.threshold
        if self.threshold_mode == "rel":
            return current > self.best * self.rel_epsilon
        return current > self.best + self.threshold

    def _advance(self, metric: Any) -> "ReduceLROnPlateau":
        return self._chain(self.lr, metric)[0]

    def _chain_init(self, lr: Array) -> Array:
        return lr

    def _chain(self, lr: Array, metric: Any) -> tuple["ReduceLROnPlateau", Array]:
        if metric is None:
            raise TypeError(
                "`ReduceLROnPlateau.step` needs the monitored metric, e.g. `sched = sched.step(val_loss)`; got `None`."
            )
        current = as_float(metric)
        if current.ndim != 0:
            raise ValueError(
                f"`ReduceLROnPlateau.step(metric)` takes a scalar metric, got shape {current.shape}. "
                "Use `jax.vmap` to step a batch of schedulers on a batch of metrics."
            )
        better = self._is_better(current)
        best = jnp.where(better, current, self.best)
        bad = jnp.where(better, 0, self.num_bad_epochs + 1)
        in_cooldown = self.cooldown_counter > 0
        counter = jnp.where(in_cooldown, self.cooldown_counter - 1, self.cooldown_counter)
        bad = jnp.where(in_cooldown, 0, bad)
        reduce = bad > self.patience
        reduced = jnp.maximum(lr * self.factor, self.min_lr)
        new_lr = jnp.where(reduce & (lr - reduced > self.eps), reduced, lr)
        new = replace(
            self,
            last_epoch=self.last_epoch + 1,
            lr=new_lr,
            best=best,
            num_bad_epochs=jnp.where(reduce, 0, bad).astype(self.num_bad_epochs.dtype),
            cooldown_counter=jnp.where(reduce, self.cooldown, counter).astype(self.cooldown_counter.dtype),
        )
        return new, new_lr


def _count(call: str, name: str, value: Any, rounding: Any, meaning: str) -> Array:
    """`patience` or `cooldown`: a number of steps `>= 0`; a fractional one acts as torch's
    comparisons make it act (`rounding` it to a whole number), with a warning."""
    if is_traced(value):
        return integer(call, name, value, low=0)
    number = steps(call, name, value)
    if isinstance(number, float):
        whole = int(rounding(number))
        warn(call, name, value, f"{meaning.format(number)}, as for {name}={whole}.")
        number = whole
    return as_int(number)
