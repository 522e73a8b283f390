"""A metric-free scheduler as a plain optax schedule function, `count -> value`."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._base import AbstractScheduler, has_runtime_checks, uses_metric
from .._curve import after
from .._errors import checked, raise_failed
from .._validation import is_traced
from ._common import Value, check_target, pick


def to_schedule(
    scheduler: AbstractScheduler, *, value: Value = "lr", group: int | None = None
) -> Callable[[ArrayLike], Array]:
    """The scheduler's trajectory as an optax schedule: `schedule(k)` is its value `k` steps on.

    `schedule(0)` is the scheduler's current value, `schedule(k)` the value after `k` more
    calls of `step`, so `optax.adam(ss.optax.to_schedule(ss.CosineAnnealingLR(1e-3, T_max=1000)))`
    follows the stepped scheduler update by update. Counts below 0 give the current value.

    Schedules with a closed form in the step count are evaluated directly, in constant
    time, and can be vmapped over counts: all but `MultiplicativeLR`, a `ChainedScheduler`
    with a child that is not multiplicative, and a `SequentialLR` holding one of those or
    `SWALR` (a warm-up then cosine has one, and so do warm restarts). The others replay `k`
    steps in a `fori_loop`, so a call costs time proportional to `k`; inside a training loop
    prefer the scheduler itself as a stateful schedule, or `set_hyperparams`.

    **Arguments:**

    - `scheduler`: a metric-free statefulsched scheduler (not `ReduceLROnPlateau`, whose
        values depend on the metrics it will see).
    - `value`: `"lr"` (default) or `"momentum"` (cycled by `CyclicLR`/`OneCycleLR`).
    - `group`: which param group, for a scheduler with several.
    """
    check_target("to_schedule", scheduler, value, group, 1)
    if uses_metric(scheduler):
        raise ValueError(
            f"`to_schedule`: `{type(scheduler).__name__}` steps on a metric, so its values are not a function of "
            "the step count; use it inside the optimizer (`inject_hyperparams(...)(learning_rate=sched)`) instead."
        )

    checks = has_runtime_checks(scheduler)

    def schedule(count: ArrayLike) -> Array:
        steps = jnp.maximum(jnp.asarray(count), 0).astype(scheduler.last_epoch.dtype)
        if checks and not is_traced((steps, scheduler)):
            # Called eagerly: compiled with the runtime checks (a `OneCycleLR` past its end
            # raises, as its `step` does), which fail with our error alone (see `_errors.py`).
            out, code = _value_after(scheduler, steps, value, group)
            raise_failed(code)
            return out
        return _pick_after(scheduler, steps, value, group)

    return schedule


def _pick_after(scheduler: AbstractScheduler, steps: Array, value: Value, group: int | None) -> Array:
    return pick(after(scheduler, steps), value, group)


_value_after = jax.jit(checked(_pick_after), static_argnums=(2, 3))
