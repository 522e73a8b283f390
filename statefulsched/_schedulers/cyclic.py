"""`CyclicLR`: cycle the learning rate (and momentum) between two bounds."""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._base import AbstractOverridingScheduler, replace
from .._errors import TorchTypeError
from .._numerics import as_float, as_int, floor_divmod, pow_via_log
from .._validation import (
    choice,
    deprecated_verbose,
    fail,
    integer,
    is_traced,
    per_group,
    real,
    resume_epoch,
    steps,
    warn,
)
from ._common import cycled_groups, decay_factor, first_epoch


class CyclicLR(AbstractOverridingScheduler):
    r"""Cyclical learning rate (Smith, 2017): a triangle wave between `base_lr` and `max_lr`.

    With `r = t mod (up + down)` and `cycle = 1 + t // (up + down)`:

    $$\text{lr}_t = \text{base\_lr} + (\text{max\_lr} - \text{base\_lr})\cdot h(r)\cdot
    \text{scale}, \qquad h(r) = \begin{cases} r/\text{up} & r \le \text{up}\\
    (\text{up} + \text{down} - r)/\text{down} & \text{otherwise}\end{cases}$$

    `scale` is `1` (`"triangular"`), `2 ** (1 - cycle)` (`"triangular2"`),
    `gamma ** t` (`"exp_range"`), or `scale_fn(cycle)` / `scale_fn(t)` for a custom
    `scale_fn` according to `scale_mode`. Momentum, when cycled, moves the opposite way
    between `max_momentum` and `base_momentum`.

    torch's CyclicLR overwrites the optimizer's lr, so there is no `lr` argument.

    **Arguments:**

    - `base_lr`, `max_lr`: floats, or one per param group; finite and `>= 0`.
    - `step_size_up`: steps in the rising half, a positive number (fractional ones are kept as
        floats and computed as torch does). Default `2000`.
    - `step_size_down`: steps in the falling half, a number `>= 0` (`0`: a sawtooth); default
        `step_size_up`.
    - `mode`: `"triangular"` (default), `"triangular2"` or `"exp_range"`; ignored when
        `scale_fn` is given (as in torch).
    - `gamma`: for `"exp_range"`, finite and `>= 0` (`0` warns); otherwise unused (any
        finite number). Default `1.0`.
    - `scale_fn`: optional custom scale function of one argument, written with
        `jax.numpy` (it is traced); receives `cycle` or `t` as a float array.
    - `scale_mode`: `"cycle"` (default) or `"iterations"`; used with `scale_fn` (torch takes
        anything else as `"iterations"`: so does this, with a warning).
    - `cycle_momentum`: whether to cycle momentum (exposed as `momentum`). Default `True`.
    - `base_momentum`, `max_momentum`: floats or one per group, finite; outside `[0, 1]` they
        warn. Defaults `0.8` and `0.9`.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after batch `k` (the lr and momentum
        are those of step `k + 1`, as in torch).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Differences from torch:** `step_size_up=0` (or a cycle of length 0) raises a
    `ZeroDivisionError` like torch's; negative step sizes, a negative `gamma` in `"exp_range"`
    and negative lrs are refused.

    **Attributes:** `lr`, `last_epoch`, and `momentum` (the value torch writes into the
    optimizer's `momentum` or Adam's `beta1`; `None` when `cycle_momentum=False`).
    """

    base_lr: Float[Array, "*groups"]
    max_lr: Float[Array, "*groups"]
    step_size_up: Int[Array, ""]
    step_size_down: Int[Array, ""]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""] = eqx.field(repr=False)
    base_momentum: Float[Array, "*groups"] | None
    max_momentum: Float[Array, "*groups"] | None
    mode: str = eqx.field(static=True)
    scale_fn: Callable | None = eqx.field(static=True)
    scale_mode: Literal["cycle", "iterations"] = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]
    momentum: Float[Array, "*groups"] | None

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "momentum")
    _takes_lr: ClassVar[bool] = False
    _closed_form: ClassVar[bool] = True

    def __init__(
        self,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        call = "CyclicLR"
        resume = resume_epoch(call, last_epoch)
        deprecated_verbose(call, verbose)
        n_groups, self.base_momentum, self.max_momentum = cycled_groups(
            call, dict(base_lr=base_lr, max_lr=max_lr), cycle_momentum, base_momentum, max_momentum
        )
        self.base_lr = per_group(call, "base_lr", base_lr, n_groups, low=0.0)
        self.max_lr = per_group(call, "max_lr", max_lr, n_groups, low=0.0)
        self.step_size_up, self.step_size_down = _half_cycles(call, step_size_up, step_size_down)
        if scale_fn is None:
            mode = choice(call, "mode", mode, ("triangular", "triangular2", "exp_range"))
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        else:
            if not callable(scale_fn):
                raise TorchTypeError(f"`CyclicLR(scale_fn=...)` must be a callable or None, got {scale_fn!r}.")
            if not isinstance(mode, str):  # torch ignores `mode` then; it is kept, so it must be a string
                raise fail(call, "mode", mode, "a string")
            if scale_mode not in ("cycle", "iterations"):
                if not isinstance(scale_mode, str):
                    raise fail(call, "scale_mode", scale_mode, "'cycle' or 'iterations'")
                warn(
                    call, "scale_mode", scale_mode, "torch evaluates `scale_fn` per iteration for anything but 'cycle'."
                )
                scale_mode = "iterations"
        self.mode = mode
        self.scale_fn = scale_fn
        self.scale_mode = scale_mode
        if scale_fn is None and mode == "exp_range":
            self.gamma, self.log_gamma = decay_factor(call, "gamma", gamma)
        else:  # unused (as in torch): any finite number
            self.gamma = real(call, "gamma", gamma)
            self.log_gamma = jnp.zeros_like(self.gamma)
        # torch's constructor steps from epoch `k` to `k + 1` (here a closed form).
        self.last_epoch = first_epoch(resume)
        self.lr, self.momentum = CyclicLR._values(self, self.last_epoch)

    @property
    def cycle_momentum(self) -> bool:
        return self.momentum is not None

    def _position(self, t: Int[Array, ""]) -> tuple[Array, Array]:
        """The cycle number (from 1) and the height in it (0 at `base_lr`, 1 at `max_lr`), at step `t`."""
        dtype = self.base_lr.dtype
        up, down = self.step_size_up, self.step_size_down
        if jnp.issubdtype(up.dtype, jnp.integer):
            # Exactly, in integers: `r` steps into cycle `cycles + 1`.
            total = up + down
            cycles, r = floor_divmod(t, total)
            rising = r <= up
            height = jnp.where(
                rising,
                r.astype(dtype) / up.astype(dtype),
                (total - r).astype(dtype) / jnp.where(rising, 1, down).astype(dtype),
            )
            return (1 + cycles).astype(dtype), height
        # Fractional half-cycles: torch's `x = 1 + t / total - cycle` is `r / total` for the
        # position `r = t - (cycle - 1) total` in the cycle, computed here by subtracting whole
        # cycles first (exact for a period with few fraction bits, as `2.5` has), so a position
        # near the bottom of a cycle keeps its precision.
        total = up + down
        if dtype == jnp.float64:
            # torch's own operations, in its precision: the same numbers to the bit, including
            # at a sawtooth's drop (`step_size_down=0`), where rounding decides the side.
            ratio = up / total
            cycle = jnp.floor(1 + t.astype(dtype) / total)
            x = 1 + t.astype(dtype) / total - cycle
            rising = x <= ratio
            return cycle, jnp.where(rising, x / ratio, (x - 1) / jnp.where(rising, -1, ratio - 1))
        cycles = jnp.floor(t.astype(dtype) / total)
        r = t.astype(dtype) - cycles * total
        cycles = jnp.where(r < 0, cycles - 1, jnp.where(r >= total, cycles + 1, cycles))
        r = t.astype(dtype) - cycles * total
        rising = r <= up
        height = jnp.where(rising, r / jnp.where(up == 0, 1, up), (total - r) / jnp.where(rising, 1, down))
        return 1 + cycles, height

    def _values(self, t: Int[Array, ""]) -> tuple[Array, Array | None]:
        dtype = self.base_lr.dtype
        cycle, height = self._position(t)
        if self.scale_fn is not None:
            x = cycle if self.scale_mode == "cycle" else t.astype(dtype)
            scale = jnp.asarray(self.scale_fn(x), dtype=dtype)
        elif self.mode == "triangular":
            scale = jnp.ones((), dtype)
        elif self.mode == "triangular2":
            scale = jnp.ldexp(jnp.ones((), dtype), (1 - cycle).astype(jnp.int32))
        else:
            scale = pow_via_log(self.log_gamma, t)
        lr = self.base_lr + (self.max_lr - self.base_lr) * height * scale
        if self.base_momentum is None or self.max_momentum is None:
            return lr, None
        momentum = self.max_momentum - (self.max_momentum - self.base_momentum) * height * scale
        return lr, momentum

    def _advance(self, metric: Any) -> "CyclicLR":
        del metric
        t = self.last_epoch + 1
        lr, momentum = self._values(t)
        return replace(self, last_epoch=t, lr=lr, momentum=momentum)


def _half_cycles(call: str, up: Any, down: Any) -> tuple[Array, Array]:
    """`step_size_up` and `step_size_down` (default: `up`): `int32`, or floats if either is fractional.

    torch divides by `up` (as a fraction of the cycle) and by the cycle's length at
    construction, so either being 0 is its `ZeroDivisionError`; `down=0` gives a sawtooth.
    """
    if is_traced((up, down)):
        up_leaf = integer(call, "step_size_up", up)
        return up_leaf, up_leaf if down is None else integer(call, "step_size_down", down)
    up_steps = steps(call, "step_size_up", up, divisor=True)
    down_steps = up_steps if down is None else steps(call, "step_size_down", down)
    if isinstance(up_steps, float) or isinstance(down_steps, float):
        return as_float(up_steps), as_float(down_steps)
    return as_int(up_steps), as_int(down_steps)
