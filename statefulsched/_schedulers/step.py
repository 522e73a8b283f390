"""`StepLR` and `MultiStepLR`: multiply by `gamma` every `step_size` steps or at milestones."""

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._numerics import as_int, floor_divmod, log_of, pow_via_log
from .._validation import fail, integer, is_traced, real
from ._common import start


class StepLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` every `step_size` steps.

    $$\text{lr}_t = \text{lr} \cdot \gamma^{\lfloor t / \text{step\_size} \rfloor}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate; a float, or a list of floats for several param
        groups. Must be finite and `>= 0`.
    - `step_size`: period of the decay, a positive integer.
    - `gamma`: multiplicative factor, finite and `> 0`. Default `0.1`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch (see the README).

    **Differences from torch:** `gamma <= 0` is rejected (torch accepts it and produces a
    zero or sign-alternating lr).
    """

    base_lr: Float[Array, "*groups"]
    step_size: Int[Array, ""]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        step_size: int,
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _ = start("StepLR", lr, last_epoch, verbose)
        self.step_size = integer("StepLR", "step_size", step_size)
        self.gamma = real("StepLR", "gamma", gamma, low=0.0, low_open=True)
        self.log_gamma = log_of(self.gamma if is_traced(gamma) else gamma)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * StepLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, floor_divmod(t, self.step_size)[0])

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return jnp.where(floor_divmod(t, self.step_size)[1] == 0, self.gamma, jnp.ones_like(self.gamma))


class MultiStepLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` each time the step count reaches a milestone.

    $$\text{lr}_t = \text{lr} \cdot \gamma^{\#\{m \in \text{milestones} : m \le t\}}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `milestones`: non-empty, non-decreasing integers `>= 0`. A milestone listed twice
        applies `gamma` twice, as in torch.
    - `gamma`: multiplicative factor, finite and `> 0`. Default `0.1`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Differences from torch:** empty or unsorted milestones are rejected (torch sorts
    them silently); `gamma <= 0` is rejected.
    """

    base_lr: Float[Array, "*groups"]
    milestones: Int[Array, " milestones"]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        milestones: Sequence[int] | ArrayLike,
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _ = start("MultiStepLR", lr, last_epoch, verbose)
        self.milestones = milestone_array("MultiStepLR", milestones, strict=False)
        self.gamma = real("MultiStepLR", "gamma", gamma, low=0.0, low_open=True)
        self.log_gamma = log_of(self.gamma if is_traced(gamma) else gamma)
        self.last_epoch = as_int(0)
        self.lr = self.base_lr * MultiStepLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, jnp.sum(self.milestones <= t))

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, jnp.sum(self.milestones == t))


def milestone_array(call: str, milestones, *, strict: bool) -> Int[Array, " n"]:
    """Validate milestones: non-empty integers `>= 0`, sorted (strictly if `strict`)."""
    order = "strictly increasing" if strict else "non-decreasing"
    expected = f"a non-empty, {order} sequence of integers >= 0"
    if is_traced(milestones):
        array = integer(call, "milestones", jnp.asarray(milestones), low=0)
        if array.ndim != 1 or array.shape[0] == 0:
            raise fail(call, "milestones", milestones, expected)
        return array
    if isinstance(milestones, (str, bytes)) or np.ndim(milestones) != 1:
        raise fail(call, "milestones", milestones, expected)
    values = list(np.asarray(milestones).tolist()) if not isinstance(milestones, (list, tuple)) else list(milestones)
    if len(values) == 0 or any(isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0 for m in values):
        raise fail(call, "milestones", milestones, expected)
    steps = np.diff(np.asarray(values, dtype=np.int64))
    if np.any(steps <= 0 if strict else steps < 0):
        raise fail(call, "milestones", milestones, expected)
    return as_int(values)
