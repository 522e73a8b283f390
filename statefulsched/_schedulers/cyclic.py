"""`CyclicLR`: cycle the learning rate (and momentum) between two bounds."""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._base import AbstractOverridingScheduler, replace
from .._numerics import as_int, floor_divmod, log_of, pow_via_log
from .._validation import choice, deprecated_verbose, integer, is_traced, no_resume, per_group, real
from ._common import cycled_groups


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
    - `step_size_up`: steps in the rising half, a positive integer. Default `2000`.
    - `step_size_down`: steps in the falling half, a positive integer; default
        `step_size_up`.
    - `mode`: `"triangular"` (default), `"triangular2"` or `"exp_range"`; ignored when
        `scale_fn` is given (as in torch).
    - `gamma`: for `"exp_range"`, finite and `> 0`. Default `1.0`.
    - `scale_fn`: optional custom scale function of one argument, written with
        `jax.numpy` (it is traced); receives `cycle` or `t` as a float array.
    - `scale_mode`: `"cycle"` (default) or `"iterations"`; used with `scale_fn`.
    - `cycle_momentum`: whether to cycle momentum (exposed as `momentum`). Default `True`.
    - `base_momentum`, `max_momentum`: floats or one per group, in `[0, 1]`. Defaults
        `0.8` and `0.9`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Attributes:** `lr`, `last_epoch`, and `momentum` (the value torch writes into the
    optimizer's `momentum` or Adam's `beta1`; `None` when `cycle_momentum=False`).
    """

    base_lr: Float[Array, "*groups"]
    max_lr: Float[Array, "*groups"]
    step_size_up: Int[Array, ""]
    step_size_down: Int[Array, ""]
    gamma: Float[Array, ""]
    log_gamma: Float[Array, ""]
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
        no_resume(call, last_epoch)
        deprecated_verbose(call, verbose)
        n_groups, self.base_momentum, self.max_momentum = cycled_groups(
            call, dict(base_lr=base_lr, max_lr=max_lr), cycle_momentum, base_momentum, max_momentum
        )
        self.base_lr = per_group(call, "base_lr", base_lr, n_groups, low=0.0)
        self.max_lr = per_group(call, "max_lr", max_lr, n_groups, low=0.0)
        self.step_size_up = integer(call, "step_size_up", step_size_up)
        self.step_size_down = (
            self.step_size_up if step_size_down is None else integer(call, "step_size_down", step_size_down)
        )
        if scale_fn is None:
            mode = choice(call, "mode", mode, ("triangular", "triangular2", "exp_range"))
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        else:
            if not callable(scale_fn):
                raise ValueError(f"`CyclicLR(scale_fn=...)` must be a callable or None, got {scale_fn!r}.")
            scale_mode = choice(call, "scale_mode", scale_mode, ("cycle", "iterations"))
        self.mode = mode
        self.scale_fn = scale_fn
        self.scale_mode = scale_mode
        self.gamma = real(call, "gamma", gamma, low=0.0, low_open=True)
        self.log_gamma = log_of(self.gamma if is_traced(gamma) else gamma)
        self.last_epoch = as_int(0)
        self.lr, self.momentum = CyclicLR._values(self, self.last_epoch)

    @property
    def cycle_momentum(self) -> bool:
        return self.momentum is not None

    def _values(self, t: Int[Array, ""]) -> tuple[Array, Array | None]:
        dtype = self.base_lr.dtype
        total = self.step_size_up + self.step_size_down
        cycles, r = floor_divmod(t, total)
        cycle = (1 + cycles).astype(dtype)
        up, down = self.step_size_up.astype(dtype), self.step_size_down.astype(dtype)
        height = jnp.where(r <= self.step_size_up, r.astype(dtype) / up, (total - r).astype(dtype) / down)
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
