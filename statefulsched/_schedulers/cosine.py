"""`CosineAnnealingLR` and `CosineAnnealingWarmRestarts`."""

import fractions
from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractOverridingScheduler, AbstractScheduler, replace
from .._errors import TorchZeroDivisionError
from .._numerics import INT32_MAX, as_float, as_int, floor_divmod, half_cosine, half_cosine_pair, half_cosine_pct
from .._validation import integer, is_traced, real, steps
from ._common import first_epoch, origin, start


class CosineAnnealingLR(AbstractScheduler):
    r"""Anneal the learning rate along a cosine from `lr` to `eta_min` over `T_max` steps.

    $$\text{lr}_t = \eta_{min} + (\text{lr} - \eta_{min})\,\frac{1 + \cos(\pi t / T_{max})}{2}$$

    Past `T_max` the curve continues periodically (back up over the next `T_max` steps),
    exactly as torch's does.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `T_max`: half period, a positive number of steps; a fractional one (`10.5`) is kept as a
        float, and the cosine follows it as torch's does.
    - `eta_min`: the minimum learning rate, finite and `>= 0`. Default `0.0`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k`. As in torch, the lr
        is then the given `lr` at step `k + 1`, and torch's recursive form carries it on along a
        cosine scaled to pass through it, until the next minimum, after which the curve is the
        one from `lr` (for a fractional `T_max`, which has no exact minimum, it stays scaled).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Differences from torch:** `T_max=0` raises a `ZeroDivisionError` at construction
    (torch's comes at the first step); a negative `T_max` or `eta_min` is refused.

    **Chaining:** standalone, the closed form above is used (torch's recursive form
    equals it up to rounding). Inside a `ChainedScheduler` the recursive form is replayed,
    including torch's additive step one past each minimum, which ignores the factors of the
    other chained schedulers: see the README.
    """

    base_lr: Float[Array, "*groups"]
    # An `int32` step count, or a float when fractional.
    T_max: Int[Array, ""] | Float[Array, ""]
    eta_min: Float[Array, ""]
    # `k + 1` for a scheduler built with `last_epoch=k`, whose cosine is scaled from there; else `None`.
    origin: Int[Array, ""] | None = eqx.field(repr=False)
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
        call = "CosineAnnealingLR"
        self.base_lr, _, resume = start(call, lr, last_epoch, verbose)
        if is_traced(T_max):
            self.T_max = integer(call, "T_max", T_max)
        else:
            value = steps(call, "T_max", T_max, divisor=True)
            if isinstance(value, float) and (step := _torch_divides_by_zero(value)) is not None:
                raise TorchZeroDivisionError(
                    f"`{call}(T_max=...)`: torch's recursive cosine divides by zero at step {step}, where "
                    f"(step - 1) / T_max rounds to an odd whole number, got {T_max!r}; use a T_max "
                    "such as a whole number or a fraction with an even denominator (2.5)."
                )
            self.T_max = as_float(value) if isinstance(value, float) else as_int(value)
        self.eta_min = real(call, "eta_min", eta_min, low=0.0)
        # torch's constructor steps from epoch `k` to `k + 1` without changing the lr.
        self.origin = origin(None if resume is None else resume + 1)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr

    def _half_cosine(self, t: Int[Array, "*shape"]) -> Float[Array, "*shape"]:
        """`(1 + cos(pi t / T_max)) / 2`, exactly reduced in integers; for a fractional `T_max`
        reduced by whole periods first, `t = q (2 T_max) + r`, so the cosine is taken of
        `r / T_max` and `1 - r / T_max` in `[-1, 1]` with their whole parts exact."""
        if jnp.issubdtype(self.T_max.dtype, jnp.integer):
            return half_cosine(t, self.T_max)
        total = self.T_max
        dtype = total.dtype
        whole = jnp.floor(total)
        frac = total - whole  # exact
        # `q` may be one off where `t` is near a multiple of the period: `r` is then a period
        # out of `[0, 2 T_max)`, which the cosine does not see.
        q = jnp.floor(t.astype(dtype) / (2 * total))
        r_whole = t - 2 * whole.astype(t.dtype) * q.astype(t.dtype)  # exact, in integers
        r = r_whole.astype(dtype) - 2 * frac * q
        left = (whole.astype(t.dtype) - r_whole).astype(dtype) + frac * (1 + 2 * q)  # T_max - r
        return half_cosine_pct(r / total, left / total)

    def _scaled(self, t: Int[Array, ""]) -> Float[Array, ""]:
        """The cosine factor at step `t` of a scheduler resumed at `origin` (torch's recursion).

        From the given lr at `origin` torch multiplies `lr - eta_min` by `h(t) / h(t - 1)`, so
        `lr - eta_min` stays proportional to `h`, until the step after a minimum (`h = 0`, an odd
        multiple of `T_max`), where it adds `(lr - eta_min) h(1 + minimum)` onto `eta_min`: the
        lr is back on the curve from `lr`. Resumed exactly at a minimum, the lr there is the
        given one, so the step after it lands above the curve, and the next minimum brings it back.
        """
        k = self.origin
        h = self._half_cosine(t)
        h_k = self._half_cosine(k)
        if not jnp.issubdtype(self.T_max.dtype, jnp.integer):  # no step is a minimum
            return h / h_k
        at_minimum = h_k == 0
        # The first minimum at or after `origin`: an odd multiple of `T_max`.
        periods = floor_divmod(k + self.T_max - 1, self.T_max)[0]  # ceil(k / T_max)
        periods = periods + 1 - (periods & 1)
        minimum = periods * self.T_max
        h_next = self._half_cosine(k + 1)
        before = jnp.where(t <= minimum, h / jnp.where(at_minimum, 1, h_k), h)
        after_minimum = jnp.where(
            t == k, jnp.ones_like(h), jnp.where(t <= k + 2 * self.T_max, (1 + h_next) * h / h_next, h)
        )
        return jnp.where(at_minimum, after_minimum, before)

    def _advance(self, metric: Any) -> "CosineAnnealingLR":
        del metric
        t = self.last_epoch + 1
        factor = self._half_cosine(t) if self.origin is None else self._scaled(t)
        lr = self.eta_min + (self.base_lr - self.eta_min) * factor
        return replace(self, last_epoch=t, lr=lr)

    def _chain_init(self, lr: Array) -> Array:
        return lr

    def _chain(self, lr: Array, metric: Any) -> tuple["CosineAnnealingLR", Array]:
        del metric
        t = self.last_epoch + 1
        below = self._half_cosine(t - 1)
        if jnp.issubdtype(self.T_max.dtype, jnp.integer):
            # torch's `(t - 1 - T_max) % (2 T_max) == 0`: `t - 1` an odd multiple of `T_max`.
            half_periods, rem = floor_divmod(t - 1, self.T_max)
            wrap = (rem == 0) & ((half_periods & 1) == 1)
            rise = (self.base_lr - self.eta_min) * half_cosine_pair(jnp.ones_like(t), self.T_max)[1]
        else:  # a fractional `T_max` has no such step
            wrap, rise = jnp.zeros((), bool), jnp.zeros_like(lr)
        ratio = self._half_cosine(t) / jnp.where(wrap, 1.0, below)
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
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k`. As torch's
        constructor does, it then sets `T_cur = k + 1`, wrapped once by `T_0` (so with
        `T_mult > 1` the periods are not those of an uninterrupted run).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Attributes:** besides `lr` and `last_epoch`, `T_cur` and `T_i` (`int32`), as in
    torch. `step` takes no fractional epochs (torch's `step(epoch)` is deprecated there).
    A period longer than `2**31 - 1` steps cannot be counted in `int32`: where the next
    period would be, the position holds at the end of the current one (`T_cur = T_i - 1`)
    while `last_epoch` goes on. That happens after at least `2**31 / T_mult` steps.
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
    _closed_form: ClassVar[bool] = True

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
        self.base_lr, _, resume = start(call, lr, last_epoch, verbose)
        self.T_0 = integer(call, "T_0", T_0)
        self.T_mult = integer(call, "T_mult", T_mult)
        self.eta_min = real(call, "eta_min", eta_min, low=0.0)
        self.last_epoch = first_epoch(resume)
        if resume is None:
            self.T_cur, self.T_i = as_int(0), self.T_0
        else:
            # torch's `step` from epoch `k`: `T_cur = k + 1`, and one restart if that is past `T_0`.
            t_cur = self.last_epoch
            restart = t_cur >= self.T_0
            longer = _times(self.T_0, self.T_mult)
            held = restart & (longer == 0)  # a period int32 cannot count: held at the end of this one
            self.T_cur = jnp.where(restart, jnp.where(held, self.T_0 - 1, floor_divmod(t_cur, self.T_0)[1]), t_cur)
            self.T_i = jnp.where(restart & ~held, longer, self.T_0)
        self.lr = CosineAnnealingWarmRestarts._lr_at(self, self.T_cur, self.T_i)

    def _advance(self, metric: Any) -> "CosineAnnealingWarmRestarts":
        del metric
        t_cur = self.T_cur + 1
        restart = t_cur >= self.T_i
        longer = _times(self.T_i, self.T_mult)
        # A period longer than `2**31 - 1` steps cannot be counted in `int32` (`T_i` would
        # wrap around): the position holds at the end of the last one that can.
        held = restart & (longer == 0)
        t_cur = jnp.where(restart, jnp.where(held, self.T_cur, 0), t_cur)
        t_i = jnp.where(restart & ~held, longer, self.T_i)
        # `0 <= t_cur < t_i`, so no reduction is needed.
        return replace(self, last_epoch=self.last_epoch + 1, T_cur=t_cur, T_i=t_i, lr=self._lr_at(t_cur, t_i))

    def _jump(self, steps: Int[Array, ""]) -> "CosineAnnealingWarmRestarts":
        # `steps` more steps leave the period's position at `T_cur + steps` past its
        # start, less the lengths of the periods completed on the way.
        position = self.T_cur + steps
        # `T_mult == 1`: every period lasts `T_i`.
        same = floor_divmod(position, self.T_i)[1]
        # `T_mult >= 2`: the periods grow, and at most 31 of them start within `int32`.
        position_held, passed, t_i = _restarts(position, self.T_i, self.T_mult)
        once = self.T_mult == 1
        t_cur = jnp.where(once, same, position_held - passed)
        t_i = jnp.where(once, self.T_i, t_i)
        return replace(self, last_epoch=self.last_epoch + steps, T_cur=t_cur, T_i=t_i, lr=self._lr_at(t_cur, t_i))

    def _lr_at(self, t_cur: Int[Array, ""], t_i: Int[Array, ""]) -> Float[Array, "*groups"]:
        return self.eta_min + (self.base_lr - self.eta_min) * half_cosine_pair(t_cur, t_i)[0]


def _torch_divides_by_zero(t_max: float) -> int | None:
    """The first step at which torch's recursive `CosineAnnealingLR` divides by zero, if any.

    torch divides by `1 + cos(pi (t - 1) / T_max)`, which is 0.0 in float64 once the angle is
    within about 1e-8 of an odd multiple of pi: at `t - 1 = m`, a whole step near an odd
    multiple of `T_max`, `|m - k T_max| < 3.4e-9 T_max` with `k` odd. (A whole `T_max` takes
    torch's other branch there.) Such `m` come from the continued fraction of `T_max`: a
    convergent `p / q` with `q` odd and `|q T_max - p|` that small (`10 / 3`: step 11).
    """
    x = fractions.Fraction(t_max)
    h0, h1, k0, k1 = 0, 1, 1, 0  # convergents p/q: h/k
    while True:
        a = x.numerator // x.denominator
        h0, h1 = h1, a * h1 + h0
        k0, k1 = k1, a * k1 + k0
        if h1 > INT32_MAX:
            return None
        if k1 % 2 == 1 and abs(k1 * t_max - h1) < 3.4e-9 * t_max:
            return h1 + 1
        frac = x - a
        if frac == 0:
            return None
        x = 1 / frac


def _restarts(position: Int[Array, "*k"], t_i: Int[Array, ""], t_mult: Int[Array, ""]) -> tuple[Array, Array, Array]:
    """`position`, held where `step` holds it, where the period holding it starts, and its
    length, for `T_mult >= 2`.

    The periods from the current one on last `P_j = t_i * t_mult**j` steps and the `j`-th
    starts at `S_j = P_0 + ... + P_(j-1)` steps from the current one's start, so the step
    `position` (`0 <= position < 2**31`) lies in period `n`, the last with `S_n <= position`.
    `S_j >= 2**j - 1`, so `n <= 31`.

    A period whose start or length `int32` cannot hold is left out, and so are the later
    ones. `step` holds the position at the end of the last period kept when the next one's
    length does not fit (a start that does not fit is past the step range), so `position`
    is held there too.

    The table depends only on the state, so under `vmap` over step counts it is computed
    once: the optimization barrier keeps XLA from fusing it into the loop over the counts,
    which recomputed it for every count (5.4 against 3.5 ns per count, cosine included).
    `n` is found by a select per entry rather than a gather, which does not vectorise.
    """
    begins, lengths = lax.optimization_barrier(_periods(t_i, t_mult))
    # The last position of the last period kept, `begin + length - 1`, saturated at `2**31 - 1`.
    room = lengths[-1] - 1
    end = jnp.where(begins[-1] > INT32_MAX - room, INT32_MAX, begins[-1] + room)
    position = jnp.minimum(position, end)
    found_begin, found_length = jnp.zeros_like(t_i), t_i
    for begin, length in zip(begins, lengths):
        here = begin <= position
        found_begin = jnp.where(here, begin, found_begin)
        found_length = jnp.where(here, length, found_length)
    return position, found_begin, found_length


def _periods(t_i: Int[Array, ""], t_mult: Int[Array, ""]) -> tuple[list[Array], list[Array]]:
    """`S_j` and `P_j` for `j = 1 ... 31` (see `_restarts`). From the first entry that
    `int32` cannot hold on, each repeats the last one it can (or `0, t_i`), so selecting
    it changes nothing.

    The optimization barrier on the inputs keeps XLA from constant-folding the table when
    the scheduler is closed over (`jax.jit(to_schedule(sched))`): with `T_mult = 1` folding
    it took XLA:CPU 93 s; computing 31 entries at run time costs nothing measurable.
    """
    t_i, t_mult = lax.optimization_barrier((t_i, t_mult))
    begin, length = jnp.zeros_like(t_i), t_i
    begins, lengths = [], []
    for _ in range(31):
        longer = _times(length, t_mult)
        fits = (length <= INT32_MAX - begin) & (longer > 0)  # `begin + length` and `longer`
        begin, length = jnp.where(fits, begin + length, begin), jnp.where(fits, longer, length)
        begins.append(begin)
        lengths.append(length)
    return begins, lengths


def _times(a: Int[Array, ""], b: Int[Array, ""]) -> Int[Array, ""]:
    """`a * b` for `int32` `a, b >= 1`, or `0` where the product exceeds `2**31 - 1`.

    Overflow is told apart without a division: the `int32` product `w` wraps to
    `P - 2**32 k` for the exact product `P`. If `P < 2**31`, `w = P >= 0`. If
    `2**31 <= P < 2**32`, `w = P - 2**32 < 0`. If `P >= 2**32`, the float32 product `f`,
    within a relative `3 * 2**-24` of `P` (two conversions, one product), is above
    `3 * 2**30`, which no `P < 2**31` reaches. So `P >= 2**31` exactly when `w < 0` or
    `f >= 3 * 2**30`.
    """
    w = a * b
    f = a.astype(jnp.float32) * b.astype(jnp.float32)
    return jnp.where((w < 0) | (f >= np.float32(3 * 2**30)), 0, w)
