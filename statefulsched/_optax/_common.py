"""Pieces shared by the optax adapters: which value to read, and stepping every N updates."""

from typing import Any, Literal, NamedTuple

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Int

from .._base import AbstractScheduler
from .._numerics import as_float, as_int
from .._partition import combine, partition

Value = Literal["lr", "momentum"]


class ScheduleState(NamedTuple):
    """The state of a scheduler driven by optax updates.

    - `scheduler`: the scheduler's state (the `NamedTuple` of `statefulsched.partition`),
        stepped once every `accumulation_size` updates. Its configuration stays with the
        adapter, which the optimizer closes over, so a jitted train step carries only the
        state arrays.
    - `count`: updates since its last step (`int32`).
    - `mean`: running mean of the metric over those updates (working float dtype).
    """

    scheduler: NamedTuple
    count: Int[Array, ""]
    mean: Float[Array, ""]


def initial_state(scheduler: AbstractScheduler) -> ScheduleState:
    state, _ = partition(scheduler)
    return ScheduleState(scheduler=state, count=as_int(0), mean=as_float(0.0))


def check_value(call: str, scheduler: AbstractScheduler, value: Any, group: Any) -> None:
    """`value` names a value the scheduler has; `group`, unless `None`, one of its param groups."""
    name = type(scheduler).__name__
    if value not in ("lr", "momentum"):
        raise ValueError(f'`{call}(value=...)` must be "lr" or "momentum", got {value!r}.')
    if value == "momentum" and getattr(scheduler, "momentum", None) is None:
        raise ValueError(
            f'`{call}(value="momentum")`: `{name}` cycles no momentum '
            "(only `CyclicLR` and `OneCycleLR` with `cycle_momentum=True` do)."
        )
    if group is not None:
        shape = jnp.shape(getattr(scheduler, value))
        if shape == () or isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < shape[0]:
            groups = "one param group (pass `group=None`)" if shape == () else f"{shape[0]} param groups"
            raise ValueError(f"`{call}(group=...)` must index a param group; `{name}` has {groups}, got {group!r}.")


def check_target(call: str, scheduler: Any, value: Any, group: Any, accumulation_size: Any) -> None:
    """Validate the arguments every adapter shares."""
    if not isinstance(scheduler, AbstractScheduler):
        raise TypeError(f"`{call}` takes a statefulsched scheduler, got {type(scheduler).__name__}.")
    check_value(call, scheduler, value, group)
    shape = jnp.shape(getattr(scheduler, value))
    if group is None and shape != ():
        raise ValueError(
            f"`{call}(group=...)`: `{type(scheduler).__name__}` has {shape[0]} param groups and an optax "
            "hyperparameter takes one value; pass `group=i` to use group `i`."
        )
    if isinstance(accumulation_size, bool) or not isinstance(accumulation_size, int) or accumulation_size < 1:
        raise ValueError(f"`{call}(accumulation_size=...)` must be a positive integer, got {accumulation_size!r}.")


def pick(scheduler: Any, value: Value, group: int | None) -> Array:
    """The scalar the optimizer receives: the lr or momentum of a scheduler (or of its state), of one group."""
    array = getattr(scheduler, value)
    return array if group is None else array[group]


def advance(state: ScheduleState, config: AbstractScheduler, metric: Any, accumulation_size: int) -> ScheduleState:
    """Count one optax update; step the scheduler on the mean metric every `accumulation_size`.

    `state.scheduler` and `config` are the halves of `statefulsched.partition`.
    The running mean is updated the way `optax.contrib.reduce_on_plateau` updates its
    own, `(count * mean + metric) / (count + 1)`, so both see the same averaged values.
    """
    scheduler = combine(state.scheduler, config)
    if accumulation_size == 1:
        return state._replace(scheduler=partition(scheduler.step(metric))[0])
    count = state.count + 1
    mean = state.mean
    if metric is not None:
        mean = ((state.count * mean + jnp.asarray(metric).astype(mean.dtype)) / count).astype(mean.dtype)
    full = count == accumulation_size
    scheduler = lax.cond(
        full,
        lambda s, m: s.step(m),
        lambda s, m: s,
        scheduler,
        None if metric is None else mean,
    )
    return ScheduleState(
        scheduler=partition(scheduler)[0],
        count=jnp.where(full, 0, count).astype(state.count.dtype),
        mean=jnp.where(full, 0, mean).astype(mean.dtype),
    )
