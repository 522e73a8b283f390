"""A gradient transformation that scales the updates by a scheduler's lr."""

from typing import Any

import jax
import optax

from .._base import AbstractScheduler, metric_from
from .._partition import partition
from ._common import ScheduleState, advance, check_target, initial_state, pick


def scale_by_scheduler(
    scheduler: AbstractScheduler,
    *,
    group: int | None = None,
    metric: str = "value",
    accumulation_size: int = 1,
) -> optax.GradientTransformationExtraArgs:
    """Scale the updates by the scheduler's lr, and step the scheduler on each update.

    For chains such as `optax.chain(optax.adam(1e-3), ss.optax.scale_by_scheduler(sched))`,
    the counterpart of `optax.contrib.reduce_on_plateau` for any scheduler. Build the
    scheduler with `lr=1.0` to scale by its factor alone (`ReduceLROnPlateau(1.0, ...)`
    reduces the scale from 1). The state is a `ScheduleState` whose `scheduler` field
    holds the scheduler's state (the `NamedTuple` of [`statefulsched.partition`][]); its
    configuration is closed over.

    **Arguments:**

    - `scheduler`: any statefulsched scheduler.
    - `group`: which param group's lr to use, for a scheduler with several.
    - `metric`: the name of the extra argument of `update` holding the metric a
        `ReduceLROnPlateau` watches, e.g. `opt.update(grads, state, params, value=loss)`.
        Default `"value"`.
    - `accumulation_size`: the scheduler steps once every `accumulation_size` updates, on
        the mean of the metric over them. Default `1`.

    **Which update is scaled by which lr:** update `k` (counting from 0) is scaled by the
    lr of the scheduler after `k // accumulation_size` steps; the scheduler is stepped
    after scaling. `optax.contrib.reduce_on_plateau` steps first, so it applies a
    reduction to the very update whose metric triggered it, one update earlier than here.
    Each update keeps its dtype (the scale is cast to it).
    """
    check_target("scale_by_scheduler", scheduler, "lr", group, accumulation_size)
    _, config = partition(scheduler)

    def init_fn(params: Any) -> ScheduleState:
        del params
        return initial_state(scheduler)

    def update_fn(updates: Any, state: ScheduleState, params: Any = None, **extra_args: Any):
        del params
        scale = pick(state.scheduler, "lr", group)
        updates = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
        return updates, advance(state, config, metric_from(scheduler, extra_args, metric), accumulation_size)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
