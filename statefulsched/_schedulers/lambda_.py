"""`LambdaLR` and `MultiplicativeLR`: schedules given by user functions of the step count."""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractOverridingScheduler, AbstractScheduler, replace
from .._numerics import float_dtype
from .._validation import callables
from ._common import first_epoch, start


def _apply(fns: tuple[Callable, ...], t: Int[Array, ""], like: Array) -> Float[Array, "*groups"]:
    """Evaluate one function per group at step `t`, shaped like the lr."""
    call = "LambdaLR/MultiplicativeLR(lr_lambda=...)"
    # The default integer dtype (int64 under x64), so `t / n` in a user's function is
    # computed in the working float precision.
    t = t.astype(jax.dtypes.canonicalize_dtype(jnp.int64))
    try:
        values = [jnp.asarray(fn(t), dtype=float_dtype()) for fn in fns]
    except TypeError as e:  # tracer-to-Python conversions inside the user's function
        raise TypeError(
            f"`{call}` is called with the step count as a JAX integer array and is traced "
            "under `jax.jit`, so it must use `jax.numpy` operations (`jnp.minimum`, "
            f"`jnp.where`, ...) rather than Python's `min`, `if` or `math`. Original error: {e}"
        ) from e
    if any(v.ndim != 0 for v in values):
        raise ValueError(f"`{call}` must return a scalar for each step.")
    return values[0] if like.ndim == 0 else jnp.stack(values)


class LambdaLR(AbstractOverridingScheduler):
    r"""Set the learning rate to `lr * lr_lambda(t)`.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `lr_lambda`: a function of the step count `t` (an integer JAX array, `int32` or `int64` under x64), or a list of
        one function per param group. It is traced under `jax.jit`, so write it with
        `jax.numpy`: `lambda t: jnp.minimum(1.0, (t + 1) / 100)`, not Python's `min`.
        Something not callable is a `TypeError`, as in torch.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k`: the lr is then
        `lr * lr_lambda(k + 1)`, as in torch.
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.
    """

    base_lr: Float[Array, "*groups"]
    lr_lambda: tuple[Callable, ...] = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _closed_form: ClassVar[bool] = True

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        lr_lambda: Callable | Sequence[Callable],
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, n_groups, resume = start("LambdaLR", lr, last_epoch, verbose)
        self.lr_lambda = callables("LambdaLR", "lr_lambda", lr_lambda, n_groups)
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr * _apply(self.lr_lambda, self.last_epoch, self.base_lr)

    def _advance(self, metric: Any) -> "LambdaLR":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self.base_lr * _apply(self.lr_lambda, t, self.base_lr))


class MultiplicativeLR(AbstractScheduler):
    r"""Multiply the learning rate by `lr_lambda(t)` at every step after the first.

    $$\text{lr}_t = \text{lr}_{t-1} \cdot \text{lr\_lambda}(t), \qquad \text{lr}_0 = \text{lr}$$

    This is a true recurrence (torch has no closed form for it), so in float32 rounding
    accumulates like in any product of many factors; enable `jax_enable_x64` for very
    long runs.

    **Arguments:**

    - `lr`: the optimizer's learning rate (float or list of floats), finite and `>= 0`.
    - `lr_lambda`: a function of the step count (an integer JAX array, `int32` or `int64` under x64) written with
        `jax.numpy`, or a list of one function per param group.
    - `last_epoch`: `-1` (default), or `k >= 0` to resume after epoch `k`: the lr is then the
        given `lr` at step `k + 1`, multiplied from there on, as in torch.
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **In a `SequentialLR`:** like torch, it continues from the lr the previous scheduler
    reached, multiplying it by `lr_lambda(0)` at its milestone.
    """

    base_lr: Float[Array, "*groups"]
    lr_lambda: tuple[Callable, ...] = eqx.field(static=True)
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _continues_shared_lr: ClassVar[bool] = True

    def __init__(
        self,
        lr: ArrayLike | Sequence[float],
        lr_lambda: Callable | Sequence[Callable],
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        self.base_lr, n_groups, resume = start("MultiplicativeLR", lr, last_epoch, verbose)
        self.lr_lambda = callables("MultiplicativeLR", "lr_lambda", lr_lambda, n_groups)
        # torch's constructor steps from epoch `k` to `k + 1` without changing the lr.
        self.last_epoch = first_epoch(resume)
        self.lr = self.base_lr

    def _advance(self, metric: Any) -> "MultiplicativeLR":
        return self._chain(self.lr, metric)[0]

    def _chain_init(self, lr: Array) -> Array:
        return lr

    def _chain(self, lr: Array, metric: Any) -> tuple["MultiplicativeLR", Array]:
        del metric
        t = self.last_epoch + 1
        new_lr = lr * _apply(self.lr_lambda, t, self.base_lr)
        return replace(self, last_epoch=t, lr=new_lr), new_lr

    def _enter(self, lr: Array) -> tuple["MultiplicativeLR", Array]:
        new_lr = lr * _apply(self.lr_lambda, jnp.zeros_like(self.last_epoch), self.base_lr)
        return replace(self, last_epoch=jnp.zeros_like(self.last_epoch), lr=new_lr), new_lr
