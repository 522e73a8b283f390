"""`ConstantLR` and `LinearLR`: the warm-up schedulers (a constant or linear factor)."""

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractMultiplicativeScheduler
from .._errors import TorchZeroDivisionError
from .._numerics import as_int
from .._validation import integer, is_traced, real, steps, warn
from ._common import first_epoch, is_zero, origin, resumed, start


class ConstantLR(AbstractMultiplicativeScheduler):
    r"""Scale the learning rate by a constant `factor` for the first `total_iters` steps.

    $$\text{lr}_t = \text{lr} \cdot \begin{cases} \text{factor} & t < \text{total\_iters} \\
    1 & \text{otherwise} \end{cases}$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `factor`: in `[0, 1]`. Default `1/3`.
    - `total_iters`: a number of steps `>= 0`. Default `5`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k` (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **As in torch:** `total_iters=0`, or a fractional one, never ends the warm-up (torch removes
    the factor at the step equal to `total_iters`): the factor stays, with a warning, and the
    attribute `total_iters` is 0. **Differences from torch:** `factor=0` with a warm-up that ends
    is refused with a `ZeroDivisionError` at construction (torch divides by the factor there).
    """

    base_lr: Float[Array, "*groups"]
    factor: Float[Array, ""]
    total_iters: Int[Array, ""]  # 0: never reached
    # Built with `total_iters=0`, which torch's closed form (what `SequentialLR` enters it with)
    # reads differently from its steps: refused as a later scheduler of a `SequentialLR`.
    idle: bool = eqx.field(static=True, repr=False)
    origin: Int[Array, ""] | None = eqx.field(repr=False)  # see `StepLR`
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
        call = "ConstantLR"
        self.base_lr, _, resume = start(call, lr, last_epoch, verbose)
        self.factor = real(call, "factor", factor, low=0.0, high=1.0)
        end = _warmup_end(call, total_iters, "the factor stays for ever")
        self.total_iters = as_int(end)
        self.idle = is_zero(total_iters)
        if not is_traced((factor, total_iters)):
            if float(factor) == 0 and end > (-1 if resume is None else resume) and end > 0:
                raise TorchZeroDivisionError(
                    f"`{call}(factor=...)` must be > 0 when the warm-up ends (total_iters={total_iters!r}): torch "
                    f"divides by it there, got {factor!r}."
                )
            if float(factor) == 0 and resume is None:
                warn(call, "factor", factor, "the learning rate is 0 for ever (the warm-up never ends).")
        # torch's constructor steps from epoch `k` to `k + 1`, removing the factor if that is its end.
        self.origin = origin(resume)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * ConstantLR._factor_at(self, self.last_epoch)

    def _constant_factor(self, t: Int[Array, ""]) -> Float[Array, ""]:
        ended = (self.total_iters > 0) & (t >= self.total_iters)
        return jnp.where(ended, jnp.ones_like(self.factor), self.factor)

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return resumed(self._constant_factor, t, self.origin)

    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return jnp.where(t == self.total_iters, 1.0 / self.factor, jnp.ones_like(self.factor))


def _warmup_end(call: str, total_iters: Any, never: str) -> Any:
    """A warm-up length as torch uses it: the step equal to it ends the warm-up.

    `0` or a fractional length is never equal to a later step (`0` when none ends). A Python
    `int`, or the checked leaf of a traced one.
    """
    if is_traced(total_iters):
        return integer(call, "total_iters", total_iters, low=0)
    value = steps(call, "total_iters", total_iters)
    if value == 0 or isinstance(value, float):
        warn(call, "total_iters", total_iters, f"torch never reaches the end of this warm-up: {never}.")
        value = 0
    return value


class LinearLR(AbstractMultiplicativeScheduler):
    r"""Scale the learning rate by a factor moving linearly from `start_factor` to `end_factor`.

    $$\text{lr}_t = \text{lr} \cdot \Big(s + (e - s)\,\frac{\min(t, T)}{T}\Big)$$

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `start_factor`: in `(0, 1]`. Default `1/3`.
    - `end_factor`: in `[0, 1]`. Default `1.0`.
    - `total_iters`: `T`, a number of steps `>= 0`. Default `5`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k` (see the README).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **As in torch:** with `total_iters=0` the factor stays at `start_factor`, and with a
    fractional `T` the ramp stops after `floor(T)` steps, at `s + (e - s) floor(T) / T`; both
    warn, and the attributes hold the equivalent whole ramp (`total_iters=max(floor(T), 1)` and
    that `end_factor`).
    """

    base_lr: Float[Array, "*groups"]
    start_factor: Float[Array, ""]
    end_factor: Float[Array, ""]
    total_iters: Int[Array, ""]
    idle: bool = eqx.field(static=True, repr=False)  # see `ConstantLR`
    origin: Int[Array, ""] | None = eqx.field(repr=False)  # see `StepLR`
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
        call = "LinearLR"
        self.base_lr, _, resume = start(call, lr, last_epoch, verbose)
        self.start_factor = real(call, "start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        end = real(call, "end_factor", end_factor, low=0.0, high=1.0)
        self.idle = is_zero(total_iters)
        if is_traced(total_iters):
            self.total_iters = integer(call, "total_iters", total_iters)
        else:
            total_iters, end = _whole_ramp(call, start_factor, end_factor, total_iters, end)
            self.total_iters = as_int(total_iters)
        self.end_factor = end
        # torch's constructor steps from epoch `k` to `k + 1` without changing the lr.
        self.origin = origin(None if resume is None else resume + 1)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * LinearLR._factor_at(self, self.last_epoch)

    def _linear_factor(self, t: Int[Array, ""]) -> Float[Array, ""]:
        dtype = self.start_factor.dtype
        done = jnp.minimum(t, self.total_iters)
        # torch's `s + (e - s) * done / T`, written as a weighted mean so that `e << s`
        # loses no float32 precision at the end of the ramp.
        weight_end = done.astype(dtype) / self.total_iters.astype(dtype)
        weight_start = (self.total_iters - done).astype(dtype) / self.total_iters.astype(dtype)
        return self.start_factor * weight_start + self.end_factor * weight_end

    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        return resumed(self._linear_factor, t, self.origin)

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


def _whole_ramp(call: str, start: Any, end: Any, total_iters: Any, end_leaf: Array) -> tuple[int, Array]:
    """`(T, end_factor)` of the whole-step ramp torch's `LinearLR` follows.

    torch multiplies by `f(t) / f(t - 1)` for `1 <= t <= T`, with `f(t) = s + (e - s) t / T`, and
    by 1 afterwards, so the factor stops at `f(floor(T))`: the ramp over `floor(T)` steps to that
    value. With `floor(T) == 0` it never moves from `s`.
    """
    value = steps(call, "total_iters", total_iters)
    if isinstance(value, int) and value > 0:
        return value, end_leaf
    whole = int(np.floor(value))
    if whole == 0:
        warn(call, "total_iters", total_iters, "torch's ramp never starts: the factor stays at `start_factor`.")
        return 1, real(call, "start_factor", start, low=0.0, high=1.0, low_open=True)
    s, e = float(start), float(end)
    stop = s + (e - s) * whole / value
    warn(
        call,
        "total_iters",
        total_iters,
        f"torch's ramp stops after {whole} steps, at the factor {stop!r} (not `end_factor`).",
    )
    return whole, real(call, "end_factor", stop, low=0.0, high=1.0)
