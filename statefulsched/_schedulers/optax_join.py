"""`JoinSchedules`: optax's `join_schedules`, with schedulers as the pieces."""

from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractScheduler, _Composite, replace
from .._numerics import as_int
from .._validation import fail, integer, is_traced


def _children(call: str, schedules: Any) -> tuple[AbstractScheduler, ...]:
    """A non-empty sequence of schedulers with one scalar lr each, all of one dtype."""
    if isinstance(schedules, AbstractScheduler) or not isinstance(schedules, (list, tuple)) or not schedules:
        raise ValueError(f"`{call}(schedules=...)` must be a non-empty list of schedulers, got {schedules!r}.")
    for i, child in enumerate(schedules):
        if not isinstance(child, AbstractScheduler):
            raise ValueError(
                f"`{call}(schedules=...)` must contain statefulsched schedulers; item {i} is {type(child).__name__}."
            )
        if child.lr.shape != ():
            raise ValueError(
                f"`{call}(schedules=...)`: item {i} ({type(child).__name__}) has {child.lr.shape[0]} param groups; "
                "a joined schedule has one lr, so build each scheduler with a single lr."
            )
    dtypes = {jnp.dtype(child.lr.dtype) for child in schedules}
    if len(dtypes) != 1:
        raise ValueError(
            f"`{call}(schedules=...)`: the schedulers' lrs have different dtypes ({sorted(map(str, dtypes))}); "
            "build them all with the same `jax_enable_x64` setting."
        )
    return tuple(schedules)


def _boundaries(call: str, boundaries: Any, n: int) -> Int[Array, " n"]:
    """`n` non-decreasing integers `>= 0`, as an `int32` leaf."""
    expected = f"a list of {n} non-decreasing integers >= 0 (one fewer than the schedules)"
    if is_traced(boundaries):
        array = integer(call, "boundaries", jnp.asarray(boundaries), low=0)
        if array.shape != (n,):
            raise fail(call, "boundaries", boundaries, expected)
        return eqx.error_if(array, jnp.any(array[1:] < array[:-1]), f"`{call}(boundaries=...)` must be {expected}.")
    if isinstance(boundaries, (str, bytes)) or np.ndim(boundaries) != 1 or len(boundaries) != n:
        raise fail(call, "boundaries", boundaries, expected)
    values = np.asarray(boundaries).tolist() if isinstance(boundaries, (np.ndarray, jax.Array)) else list(boundaries)
    for b in values:
        if (
            isinstance(b, (bool, np.bool_))
            or not isinstance(b, (int, np.integer))
            or not 0 <= b <= np.iinfo(np.int32).max
        ):
            raise fail(call, "boundaries", boundaries, expected)
    if any(b < a for a, b in zip(values, values[1:])):
        raise fail(call, "boundaries", boundaries, expected)
    return as_int(jnp.asarray(values, dtype=jnp.int32).reshape(n))


def _where(pred: Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class JoinSchedules(_Composite):
    r"""Run `schedules[0]` until step `boundaries[0]`, then `schedules[1]` from its start, and so on.

    At step $t$ the lr is that of `schedules[i]` after $t - b_{i-1}$ of its own steps, where
    $i$ is the number of boundaries $b_j \le t$ (with $b_{-1} = 0$): at its boundary a
    scheduler takes over with its initial lr (its value at count 0), and from then on it is
    stepped once per step. This is `optax.join_schedules`, which calls the $i$-th
    schedule at `t - boundaries[i - 1]`; with the schedulers of this module as pieces the
    lrs are optax's bit for bit.

    Any statefulsched schedulers can be joined, the torch-style ones too (e.g. a
    `LinearLR` warm-up then a `CosineDecaySchedule`). Only the active scheduler is
    stepped, so each starts from the state it was given (normally freshly built) when its
    turn comes: unlike in `SequentialLR`, `MultiplicativeLR` and `SWALR` start from their
    own initial lr rather than continuing from the previous scheduler's. The metric given
    to `step` is forwarded to the active scheduler, so a `ReduceLROnPlateau` piece works
    (a metric is then needed on every step).

    **Arguments:**

    - `schedules`: a non-empty list of schedulers, each with a single lr (one param group),
        all of one dtype.
    - `boundaries`: non-decreasing integers `>= 0`, one fewer than `schedules`. A
        scheduler whose boundaries coincide is skipped, as in optax.

    **Differences from optax:** `boundaries` of the wrong length (optax silently ignores
    the extra schedules or boundaries), out of order, negative (optax would start the
    next schedule part way through) or not integers are rejected; the pieces are
    schedulers rather than functions.

    **Chaining:** inside a `ChainedScheduler` it computes its lr from its pieces alone, so
    it overwrites what the schedulers before it did.
    """

    schedulers: tuple[AbstractScheduler, ...]
    boundaries: Int[Array, " boundaries"]
    last_epoch: Int[Array, ""]
    lr: Float[Array, ""]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "schedulers")
    _takes_lr: ClassVar[bool] = False

    def __init__(self, schedules: Sequence[AbstractScheduler], boundaries: Sequence[int] | ArrayLike):
        call = "JoinSchedules"
        self.schedulers = _children(call, schedules)
        self.boundaries = _boundaries(call, boundaries, len(self.schedulers) - 1)
        self.last_epoch = as_int(0)
        first = jnp.sum(self.boundaries <= 0)
        self.lr = jnp.stack([child.lr for child in self.schedulers])[first]

    def _advance(self, metric: Any) -> "JoinSchedules":
        t = self.last_epoch + 1
        index = jnp.sum(self.boundaries <= t)
        # The scheduler taking over at `t` starts at its own count 0: it is not stepped.
        entering = index != jnp.sum(self.boundaries <= self.last_epoch)

        def branch(i: int):
            def run(children: tuple[AbstractScheduler, ...]):
                child = children[i]
                stepped = child._advance(metric)
                new_child, lr = _where(entering, (child, child.lr), (stepped, stepped.lr))
                return children[:i] + (new_child,) + children[i + 1 :], lr.astype(self.lr.dtype)

            return run

        if len(self.schedulers) == 1:
            children, lr = branch(0)(self.schedulers)
        else:
            children, lr = lax.switch(index, [branch(i) for i in range(len(self.schedulers))], self.schedulers)
        return replace(self, last_epoch=t, lr=lr, schedulers=children)

    def _chain_init(self, lr: Array) -> Array:
        del lr
        return self.lr

    def _chain(self, lr: Array, metric: Any) -> tuple["JoinSchedules", Array]:
        del lr
        new = self._advance(metric)
        return new, new.lr
