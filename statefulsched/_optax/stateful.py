"""A scheduler inside an optax optimizer, as one of its stateful hyperparameter schedules."""

from typing import Any

import equinox as eqx
from jaxtyping import Array

from .._base import AbstractScheduler, metric_from
from .._partition import partition
from ._common import ScheduleState, Value, advance, check_target, initial_state, pick


class StatefulScheduler(eqx.Module):
    """An optax `StatefulSchedule` driven by a statefulsched scheduler.

    Built by [`stateful_schedule`][]; see there.
    """

    scheduler: AbstractScheduler
    value: Value = eqx.field(static=True)
    group: int | None = eqx.field(static=True)
    metric: str = eqx.field(static=True)
    accumulation_size: int = eqx.field(static=True)

    def init(self) -> ScheduleState:
        return initial_state(self.scheduler)

    def update(self, state: ScheduleState, **extra_args: Any) -> ScheduleState:
        metric = metric_from(self.scheduler, extra_args, self.metric)
        return advance(state, partition(self.scheduler)[1], metric, self.accumulation_size)

    def __call__(self, state: ScheduleState, **extra_args: Any) -> Array:
        del extra_args
        return pick(state.scheduler, self.value, self.group)


def stateful_schedule(
    scheduler: AbstractScheduler,
    *,
    value: Value = "lr",
    group: int | None = None,
    metric: str = "value",
    accumulation_size: int = 1,
) -> StatefulScheduler:
    """Drive an optax hyperparameter with a scheduler stepped by the optimizer's own updates.

    ```python
    sched = ss.OneCycleLR(0.1, total_steps=1000)
    opt = optax.inject_hyperparams(optax.sgd)(
        learning_rate=ss.optax.stateful_schedule(sched),
        momentum=ss.optax.stateful_schedule(sched, value="momentum"),
    )
    ```

    Every scheduler is already an optax stateful schedule on its own
    (`learning_rate=sched`); this wrapper adds the choice of value and group, the name of
    the metric argument, and averaging.

    **Arguments:**

    - `scheduler`: any statefulsched scheduler.
    - `value`: `"lr"` (default) or `"momentum"` (the momentum cycled by `CyclicLR` or
        `OneCycleLR`; give it to `b1` of the Adam family or `momentum` of `optax.sgd`).
    - `group`: which param group's value to use, for a scheduler with several; `None`
        (default) for a scheduler with one.
    - `metric`: the name of the extra argument of `opt.update` holding the metric a
        `ReduceLROnPlateau` watches. Default `"value"`, as for
        `optax.contrib.reduce_on_plateau`. Ignored by metric-free schedulers.
    - `accumulation_size`: the scheduler steps once every `accumulation_size` updates, on
        the mean of the metric over them. Default `1`.

    **Which update sees which lr:** optax reads the value before it steps the schedule,
    so update `k` (counting from 0) uses the value of the scheduler after
    `k // accumulation_size` steps, and a metric passed to update `k` can change the lr
    of update `k + 1` at the earliest: torch's order of `optimizer.step()` then
    `scheduler.step(metric)`.
    """
    check_target("stateful_schedule", scheduler, value, group, accumulation_size)
    if not isinstance(metric, str):
        raise ValueError(f"`stateful_schedule(metric=...)` must be the name of an extra argument, got {metric!r}.")
    return StatefulScheduler(scheduler, value, group, metric, accumulation_size)
