"""`OneCycleLR`: the 1cycle policy (warm up to `max_lr`, then anneal far below the start)."""

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._base import AbstractOverridingScheduler, replace
from .._errors import TorchZeroDivisionError, check, checked, raise_failed, runtime_error
from .._numerics import as_float, as_int, half_cosine_pct
from .._validation import choice, deprecated_verbose, fail, integer, is_traced, per_group, real, resume_epoch
from ._common import cycled_groups, first_epoch

# (lr start, lr end, momentum start, momentum end) of each phase, as in torch.
_TWO_PHASES = (("initial", "max", "max", "base"), ("max", "min", "base", "max"))
_THREE_PHASES = (("initial", "max", "max", "base"), ("max", "initial", "base", "max"), ("initial", "min", "max", "max"))

PAST_END = runtime_error(
    "`OneCycleLR.step`: stepped more than `total_steps` times after construction "
    "(torch raises a ValueError here too); build the scheduler with a larger `total_steps`."
)
ZERO_PHASE = runtime_error(
    "`OneCycleLR.step`: reached a phase of zero length (torch divides by zero here); "
    "choose `pct_start` so that no phase is empty.",
    TorchZeroDivisionError,
)


class OneCycleLR(AbstractOverridingScheduler):
    r"""The 1cycle learning-rate policy (Smith & Topin, 2017).

    The lr rises from `max_lr / div_factor` to `max_lr` over the first `pct_start` of
    `total_steps`, then anneals to `max_lr / (div_factor * final_div_factor)`; with
    `three_phase=True` it first returns symmetrically to the initial lr. Momentum, when
    cycled, moves the opposite way between `max_momentum` and `base_momentum`. Phase
    boundaries and interpolation follow torch exactly, including its off-by-one phase
    ends (phase one ends at step `pct_start * total_steps - 1`).

    torch's OneCycleLR overwrites the optimizer's lr, so there is no `lr` argument.

    **Arguments:**

    - `max_lr`: the peak lr, a float or one per param group, finite and `>= 0`.
    - `total_steps`: a positive integer; or give `epochs` and `steps_per_epoch`
        (positive integers) and it is their product.
    - `pct_start`: fraction of the cycle spent rising, in `[0, 1]`. Default `0.3`.
    - `anneal_strategy`: `"cos"` (default) or `"linear"`.
    - `cycle_momentum`: whether to cycle momentum (exposed as `momentum`). Default `True`.
    - `base_momentum`, `max_momentum`: floats or one per group, finite (outside `[0, 1]` they
        warn). Defaults `0.85` and `0.95`.
    - `div_factor`: initial lr is `max_lr / div_factor`, finite and `> 0`. Default `25`.
    - `final_div_factor`: final lr is `initial_lr / final_div_factor`, finite and `> 0`.
        Default `1e4`.
    - `three_phase`: use the three-phase variant. Default `False`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after batch `k` (the values are
        those of step `k + 1`, as in torch), with `k + 1 <= total_steps`.
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Differences from torch:** a phase of zero length, `div_factor=0` or
    `final_div_factor=0` raise torch's `ZeroDivisionError` at construction (torch's comes when
    the step reaches it); negative divisors and lrs are refused; momentum bounds outside
    `[0, 1]` warn.

    **Stepping past the end:** like torch, the step numbered `total_steps` extrapolates
    the last phase one step beyond its end (with the linear strategy and `pct_start=0`
    this can even give a negative lr, as in torch); and like torch, `total_steps` steps
    are allowed after construction and the next eager `step` raises `ValueError` (as does
    `values(n)` reaching past the end). A `step` traced into a larger program (a jitted
    train step, a `lax.scan`) holds the lr and momentum of step `total_steps` instead of
    raising: a check there would be a host callback on every step, which makes each call
    wait for its result and, on CPU, costs about a microsecond per `lax.scan` iteration. `last_epoch` keeps counting, so
    `sched.last_epoch > sched.total_steps` shows an overrun.
    """

    initial_lr: Float[Array, "*groups"]
    max_lr: Float[Array, "*groups"]
    min_lr: Float[Array, "*groups"]
    total_steps: Int[Array, ""]
    # Phase `i` ends at step `phase_end_step[i] + phase_end_offset[i]`: torch's float end
    # step split into the nearest integer and a remainder in `[-1/2, 1/2]`, so that short
    # phases late in a long cycle keep float32 precision, and so does the distance from an
    # end to the integer step just past it, however close the end lies below that step.
    phase_end_step: Int[Array, " phases"] = eqx.field(repr=False)
    phase_end_offset: Float[Array, " phases"] = eqx.field(repr=False)
    phase_length: Float[Array, " phases"] = eqx.field(repr=False)
    base_momentum: Float[Array, "*groups"] | None
    max_momentum: Float[Array, "*groups"] | None
    anneal_strategy: Literal["cos", "linear"] = eqx.field(static=True)
    three_phase: bool = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]
    momentum: Float[Array, "*groups"] | None

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "momentum")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True
    _has_runtime_checks: ClassVar[bool] = True

    def __init__(
        self,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        call = "OneCycleLR"
        resume = resume_epoch(call, last_epoch)
        deprecated_verbose(call, verbose)
        if total_steps is not None:
            steps = integer(call, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            steps = integer(call, "epochs", epochs) * integer(call, "steps_per_epoch", steps_per_epoch)
        else:
            raise ValueError(
                "`OneCycleLR` needs the length of the cycle: pass `total_steps`, or both "
                f"`epochs` and `steps_per_epoch`; got total_steps={total_steps!r}, "
                f"epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}."
            )
        self.total_steps = steps
        pct = real(call, "pct_start", pct_start, low=0.0, high=1.0)
        self.anneal_strategy = choice(call, "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.three_phase = bool(three_phase)
        n_groups, self.base_momentum, self.max_momentum = cycled_groups(
            call, dict(max_lr=max_lr), cycle_momentum, base_momentum, max_momentum
        )
        self.max_lr = per_group(call, "max_lr", max_lr, n_groups, low=0.0)
        div = _divisor(call, "div_factor", div_factor)
        final_div = _divisor(call, "final_div_factor", final_div_factor)
        self.initial_lr = self.max_lr / div
        self.min_lr = self.initial_lr / final_div

        if is_traced((total_steps, epochs, steps_per_epoch, pct_start)):
            n = steps.astype(pct.dtype)
            ends = jnp.stack([pct * n - 1, 2 * pct * n - 2, n - 1] if self.three_phase else [pct * n - 1, n - 1])
            nearest = jnp.round(ends)
            self.phase_end_step = nearest.astype(jnp.int32)
            self.phase_end_offset = ends - nearest
            self.phase_length = jnp.diff(ends, prepend=0.0)
        else:
            # Phase ends in float64, as torch computes them, so the integer step at which
            # each phase ends is exact whatever the working precision.
            # From the Python arguments: `steps` is a tracer when this runs under `jax.jit`.
            n = int(total_steps) if total_steps is not None else int(epochs) * int(steps_per_epoch)
            p = float(pct_start)
            ends = (
                [float(p * n) - 1, float(2 * p * n) - 2, n - 1.0] if self.three_phase else [float(p * n) - 1, n - 1.0]
            )
            if ends[0] == 0.0:
                raise TorchZeroDivisionError(
                    f"`{call}(pct_start=...)` must be such that pct_start * total_steps != 1 (total_steps={n}): "
                    f"the first phase would have no length (torch divides by it), got {pct_start!r}."
                )
            if resume is not None and resume + 1 > n:
                raise fail(
                    call, "last_epoch", last_epoch, f"below total_steps={n} (torch raises a ValueError here too)"
                )
            nearest = [round(e) for e in ends]
            self.phase_end_step = as_int(nearest)
            self.phase_end_offset = as_float([e - k for e, k in zip(ends, nearest)])
            self.phase_length = as_float(np.diff(ends, prepend=0.0))
        # torch's constructor steps from epoch `k` to `k + 1` (here a closed form).
        self.last_epoch = first_epoch(resume)
        (self.lr, self.momentum), code = checked(OneCycleLR._values)(self, self.last_epoch)
        if not is_traced(code):
            raise_failed(code)  # a phase of zero length at step `k + 1`

    @property
    def cycle_momentum(self) -> bool:
        return self.momentum is not None

    def _anneal(self, start: Array, end: Array, pct: Array, left: Array) -> Array:
        if self.anneal_strategy == "cos":
            # torch's `end + (start - end) (1 + cos(pi pct)) / 2` as a weighted mean of the ends,
            # with `1 - (1 + cos(pi pct)) / 2 = (1 + cos(pi (1 - pct))) / 2`: no cancellation
            # where the value is near 0 (a momentum cycled down from 0, say).
            return start * half_cosine_pct(pct, left) + end * half_cosine_pct(left, pct)
        # torch's `(end - start) * pct + start`, rearranged so the end value is exact
        # (in float32 the original loses 1e-4 relative accuracy when `end << start`).
        return start * left + end * pct

    def _values(self, t: Int[Array, ""]) -> tuple[Array, Array | None]:
        # Past the end, a step traced into a larger program holds the values of the last
        # allowed step (`total_steps`); eagerly the check below raises first.
        past_end = t > self.total_steps
        t = jnp.minimum(t, self.total_steps)
        phases = _THREE_PHASES if self.three_phase else _TWO_PHASES
        named_lr = {"initial": self.initial_lr, "max": self.max_lr, "min": self.min_lr}
        named_m = {"base": self.base_momentum, "max": self.max_momentum}
        dtype = self.phase_end_offset.dtype

        def phase(i: int) -> tuple:
            # Integer differences first (exact), then the offsets: `done` of a phase that
            # starts just below an integer step is that small distance, to full precision.
            if i == 0:
                done = t.astype(dtype)
            else:
                done = (t - self.phase_end_step[i - 1]).astype(dtype) - self.phase_end_offset[i - 1]
            to_go = (self.phase_end_step[i] - t).astype(dtype) + self.phase_end_offset[i]
            lr_start, lr_end, m_start, m_end = phases[i]
            ends = (named_lr[lr_start], named_lr[lr_end], named_m[m_start], named_m[m_end])
            return done, to_go, self.phase_length[i], ends

        # Pick the phase first (the first whose end `t` has not passed; the last one past
        # the end), then evaluate its curve once: the same arithmetic as evaluating every
        # phase and selecting, at a fraction of the cost under `vmap`.
        done, to_go, length, ends = phase(len(phases) - 1)
        for i in reversed(range(len(phases) - 1)):
            candidate = phase(i)
            # `t <= end`, exactly: `to_go` is an integer plus an offset of at most 1/2, so
            # rounding cannot change its sign.
            here = candidate[1] >= 0
            done, to_go, length, ends = jax.tree.map(
                lambda a, b: jnp.where(here, a, b), candidate, (done, to_go, length, ends)
            )
        lr_start, lr_end, m_start, m_end = ends
        zero_phase = length == 0
        # A phase of zero length (torch divides by zero there) counts as done: its end value.
        safe = jnp.where(zero_phase, 1.0, length)
        pct = jnp.where(zero_phase, 1.0, done / safe)
        left = jnp.where(zero_phase, 0.0, to_go / safe)
        lr = self._anneal(lr_start, lr_end, pct, left)
        momentum = None if self.base_momentum is None else self._anneal(m_start, m_end, pct, left)
        # torch's errors, in the programs of the eager `step` and `values` (see `_errors.py`).
        check(past_end, PAST_END)
        check(zero_phase, ZERO_PHASE)
        return lr, momentum

    def _advance(self, metric: Any) -> "OneCycleLR":
        del metric
        t = self.last_epoch + 1
        lr, momentum = self._values(t)
        return replace(self, last_epoch=t, lr=lr, momentum=momentum)


def _divisor(call: str, name: str, value: Any) -> Array:
    """`div_factor` or `final_div_factor`: finite and `> 0`; torch divides by zero on `0`."""
    if not is_traced(value) and not isinstance(value, (bool, str)) and np.ndim(value) == 0:
        try:
            zero = float(value) == 0
        except (TypeError, ValueError):
            zero = False
        if zero:
            raise TorchZeroDivisionError(f"`{call}({name}=...)` must be > 0 (torch divides by it), got {value!r}.")
    return real(call, name, value, low=0.0, low_open=True)
