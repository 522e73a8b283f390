"""`StepLR` and `MultiStepLR`: multiply by `gamma` every `step_size` steps or at milestones."""

import collections
import fractions
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._numerics import INT32_MAX, as_int, floor_divmod, pow_via_log
from .._validation import fail, integer, is_traced, steps, warn
from ._common import decay_factor, first_epoch, origin, start


class StepLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` every `step_size` steps.

    $$\text{lr}_t = \text{lr} \cdot \gamma^{\lfloor t / \text{step\_size} \rfloor}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate; a float, or a list of floats for several param
        groups. Must be finite and `>= 0`.
    - `step_size`: period of the decay, a positive number of steps.
    - `gamma`: multiplicative factor, finite and `>= 0`. Default `0.1`.
    - `last_epoch`: `-1` (default) to start at step 0; `k >= 0` to resume after epoch `k`, as
        torch's constructor does (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`, as torch did.

    **Differences from torch:** a negative `gamma` (a sign-alternating lr) and a negative
    `step_size` are refused, `step_size=0` with a `ZeroDivisionError` (torch's on the first
    decay). `gamma=0` warns. A fractional `step_size` is what torch makes of it: a decay at the
    steps that are exact multiples of it (`2.5`: every 5 steps), with a warning; the attribute
    holds that whole period.
    """

    base_lr: Float[Array, "*groups"]
    step_size: Int[Array, ""]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""] = eqx.field(repr=False)
    # The step a scheduler built with `last_epoch=k` counts its decays from (`k`); `None` from 0.
    origin: Int[Array, ""] | None = eqx.field(repr=False)
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
        self.base_lr, _, resume = start("StepLR", lr, last_epoch, verbose)
        self.step_size = _period("StepLR", step_size)
        self.gamma, self.log_gamma = decay_factor("StepLR", "gamma", gamma)
        # torch's constructor steps from epoch `k` to `k + 1`, applying that step's decay.
        self.origin = origin(resume)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * StepLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        decays = floor_divmod(t, self.step_size)[0]
        if self.origin is not None:
            decays = decays - floor_divmod(self.origin, self.step_size)[0]
        return pow_via_log(self.log_gamma, decays)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return jnp.where(floor_divmod(t, self.step_size)[1] == 0, self.gamma, jnp.ones_like(self.gamma))


def _period(call: str, step_size: Any) -> Int[Array, ""]:
    """`StepLR`'s period as torch uses it: it decays at step `t >= 1` when `t % step_size == 0`.

    For a fractional `step_size = m / 2**e` (`m` odd; every float is such a fraction) that
    holds exactly at the multiples of `m`, so the period is `m`; one beyond int32 is never reached.
    """
    if is_traced(step_size):
        return integer(call, "step_size", step_size)
    value = steps(call, "step_size", step_size, divisor=True)
    if isinstance(value, float):
        period = fractions.Fraction(value).numerator
        if period > INT32_MAX:
            warn(call, "step_size", step_size, "torch decays only at steps that are exact multiples of it: never here.")
            period = INT32_MAX
        else:
            warn(
                call,
                "step_size",
                step_size,
                f"torch decays only at steps that are exact multiples of it: every {period} steps.",
            )
        value = period
    return as_int(value)


class MultiStepLR(AbstractMultiplicativeScheduler):
    r"""Decay the learning rate by `gamma` each time the step count reaches a milestone.

    $$\text{lr}_t = \text{lr} \cdot \gamma^{\#\{m \in \text{milestones} : m \le t\}}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `milestones`: step counts, in any order (torch keeps them in a `Counter`); a milestone
        listed twice applies `gamma` twice, as in torch. May be empty.
    - `gamma`: multiplicative factor, finite and `>= 0`. Default `0.1`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k` (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Attributes:** `milestones`, the milestones torch reaches, sorted (`int32`).

    **Differences from torch:** a negative `gamma` is refused and `gamma=0` warns. Milestones
    torch never reaches (negative, fractional, or beyond int32) are left out, with a warning.
    """

    base_lr: Float[Array, "*groups"]
    milestones: Int[Array, " milestones"]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""] = eqx.field(repr=False)
    # How many negative milestones were left out: torch's closed form (what `SequentialLR`
    # enters it with) counts them, its steps do not; refused as a later scheduler there.
    before_start: int = eqx.field(static=True, repr=False)
    origin: Int[Array, ""] | None = eqx.field(repr=False)  # as `StepLR`'s
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        milestones: Iterable[int] | ArrayLike,
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, _, resume = start("MultiStepLR", lr, last_epoch, verbose)
        self.milestones, self.before_start = reached_milestones("MultiStepLR", milestones)
        self.gamma, self.log_gamma = decay_factor("MultiStepLR", "gamma", gamma)
        self.origin = origin(resume)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * MultiStepLR._factor_at(self, self.last_epoch)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        decays = jnp.sum(self.milestones <= t)
        if self.origin is not None:
            decays = decays - jnp.sum(self.milestones <= self.origin)
        return pow_via_log(self.log_gamma, decays)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return pow_via_log(self.log_gamma, jnp.sum(self.milestones == t))


def milestone_values(call: str, milestones: Any) -> list[int | float]:
    """Concrete milestones as a list of Python numbers (a `Counter` or dict expanded by its counts).

    Refused: a string, or anything that is not a finite real number (a bool included).
    """
    expected = "a sequence of step counts"
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, (Iterable, np.ndarray, jnp.ndarray)):
        raise fail(call, "milestones", milestones, expected)
    if isinstance(milestones, Mapping):
        items = [m for m, n in collections.Counter(milestones).items() for _ in range(max(int(n), 0))]
    else:
        items = (
            list(np.asarray(milestones).tolist())
            if isinstance(milestones, (np.ndarray, jnp.ndarray))
            else list(milestones)
        )
    out = []
    for m in items:
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, float, np.number)) or not np.isfinite(m):
            raise fail(call, "milestones", milestones, f"{expected} (finite numbers; not {m!r})")
        out.append(int(m) if float(m).is_integer() else float(m))
    return out


def reached_milestones(call: str, milestones: Any) -> tuple[Int[Array, " n"], int]:
    """`MultiStepLR`'s milestones as torch uses them: the steps `t >= 0` it meets, sorted; and
    how many of those left out were negative (`MultiStepLR.before_start`).

    torch decays when the step count is in the `Counter` of milestones, so a negative,
    fractional or (here) beyond-int32 milestone is never met: it is left out, with a warning.
    """
    if is_traced(milestones):
        array = integer(call, "milestones", jnp.asarray(milestones), low=0)
        if array.ndim != 1:
            raise fail(call, "milestones", milestones, "a 1-d sequence of step counts")
        return array, 0  # (checked `>= 0` at run time)
    values = milestone_values(call, milestones)
    kept = sorted(m for m in values if isinstance(m, int) and 0 <= m <= INT32_MAX)
    if len(kept) != len(values):
        never = sorted(m for m in values if not (isinstance(m, int) and 0 <= m <= INT32_MAX))
        warn(
            call,
            "milestones",
            milestones,
            f"torch never reaches {never} (steps are whole numbers from 0 to 2**31 - 1), so they are left out.",
        )
    return as_int(np.asarray(kept, np.int64).reshape(len(kept))), sum(m < 0 for m in values)
