"""A metric-free scheduler's values many steps ahead: one value, or the whole curve at once."""

import functools
import operator
import os
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Int

from ._base import AbstractScheduler, advance, has_runtime_checks, uses_metric
from ._errors import checked, collecting, raise_failed, report
from ._fingerprint import MISMATCH, mismatch, traced
from ._numerics import INT32_MAX
from ._optax._common import Value, check_value, pick


def closed_form(scheduler: AbstractScheduler) -> bool:
    """Whether `jump` can compute `scheduler`'s state any number of steps ahead directly.

    The closed-form classes can, and so can a `SequentialLR` whose children all can (and
    none carries on from the lr its predecessor reached, as `MultiplicativeLR` and `SWALR`
    do), and a `ChainedScheduler` whose children are all multiplicative.
    """
    return scheduler._has_closed_form()


def jump(scheduler: AbstractScheduler, steps: Int[ArrayLike, ""]) -> AbstractScheduler:
    """A scheduler with a closed form (`closed_form`) `steps >= 0` steps on, in constant time.

    Each class's `_jump` gives the state `step` would reach, by the same computation as
    `step` wherever the class allows (see `AbstractScheduler._jump`).
    """
    # Like `step`, counting stops at `2**31 - 1` (see `advance`).
    steps = jnp.minimum(jnp.asarray(steps).astype(scheduler.last_epoch.dtype), INT32_MAX - scheduler.last_epoch)
    return scheduler._jump(steps)


def after(scheduler: AbstractScheduler, steps: Int[ArrayLike, ""]) -> AbstractScheduler:
    """A metric-free scheduler `steps >= 0` steps on: a `jump` if it has a closed form, else a replay.

    The replay is a `fori_loop` of `steps` iterations (`steps` may be traced).
    """
    if closed_form(scheduler):
        return jump(scheduler, steps)
    steps = jnp.asarray(steps).astype(scheduler.last_epoch.dtype)
    if not collecting():
        return lax.fori_loop(0, steps, lambda _, s: advance(s, None), scheduler)

    def body(_, carry):
        s, code = checked(advance)(carry[0], None)
        return s, jnp.where(carry[1] != 0, carry[1], code)

    scheduler, code = lax.fori_loop(0, steps, body, (scheduler, jnp.zeros((), jnp.int32)))
    report(code)
    return scheduler


def _check(scheduler: Any, n: Any, value: Any, group: Any) -> int:
    if not isinstance(scheduler, AbstractScheduler):
        raise TypeError(f"`values` takes a statefulsched scheduler, got {type(scheduler).__name__}.")
    name = type(scheduler).__name__
    if uses_metric(scheduler):
        raise ValueError(
            f"`values`: `{name}` steps on a metric, so its values are not a function of the step count "
            "and cannot be computed ahead; step it on the metrics as they come (or `lax.scan` its `step` "
            "over an array of metrics)."
        )
    if isinstance(n, bool):
        raise TypeError(f"`values(n=...)` must be a non-negative integer, got {n!r}.")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(
            f"`values(n=...)` must be a non-negative Python integer (it fixes the shape of the result), got {n!r}."
        ) from None
    if n < 0:
        raise ValueError(f"`values(n=...)` must be a non-negative integer, got {n}.")
    check_value("values", scheduler, value, group)
    return n


@functools.partial(jax.jit, static_argnames=("n", "value", "group"))
def _curve(scheduler: AbstractScheduler, n: int, value: Value, group: int | None) -> tuple[Array, Array]:
    """The curve, and the code of the runtime checks made on the way (see `_errors.py`).

    One call computes the whole curve, so the runtime checks of the schedulers that have
    them (a `OneCycleLR` asked for values past its end) cost once per call. The others run
    as in a traced `step` (e.g. a `SequentialLR` without a conditional per step).
    """
    if not has_runtime_checks(scheduler):
        return _curve_of(scheduler, n, value, group), jnp.zeros((), jnp.int32)
    return checked(_curve_of)(scheduler, n, value, group)


def _curve_of(scheduler: AbstractScheduler, n: int, value: Value, group: int | None) -> Array:
    now = pick(scheduler, value, group)
    if n == 0:
        return jnp.zeros((0, *now.shape), now.dtype)
    if closed_form(scheduler):
        return jnp.concatenate([_rows(scheduler, now, value, group, lo, hi) for lo, hi in _spans(n, _loop_parts())])
    if n == 1:
        rest = jnp.zeros((0, *now.shape), now.dtype)
    else:

        def body(s, _):
            s = advance(s, None)
            return s, pick(s, value, group)

        if collecting():

            def checked_body(s, _):
                (s, y), code = checked(body)(s, _)
                return s, (y, code)

            _, (rest, codes) = lax.scan(checked_body, scheduler, None, length=n - 1)
            report(codes)
        else:
            _, rest = lax.scan(body, scheduler, None, length=n - 1)
    return jnp.concatenate([now[None], rest.astype(now.dtype)])


def _loop_parts() -> int:
    """Into how many parts XLA:CPU splits a long elementwise loop: one per CPU it may use.

    (It is the number of CPUs this process may run on; on other backends 1.)
    """
    if jax.default_backend() != "cpu":
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _spans(n: int, parts: int) -> list[tuple[int, int]]:
    """The curve's rows `[0, n)` as one span whose length is a multiple of `parts`, and the rest.

    XLA:CPU splits a long loop into `parts` equal parts; when the length is not a multiple of
    that, every element checks the bounds, and with the scheduler's arrays as arguments the
    loop is no longer vectorised (4x slower per step with 2 CPUs, for any odd `n`). A loop over
    the few rows left over costs little.
    """
    bulk = n - n % parts
    return [span for span in ((0, bulk), (bulk, n)) if span[0] < span[1]]


def _rows(scheduler: AbstractScheduler, now: Array, value: Value, group: int | None, lo: int, hi: int) -> Array:
    """Rows `lo` to `hi - 1` of the curve of a closed-form scheduler, all at once.

    Row 0 is `now` itself, chosen by a select: concatenating it onto the `n - 1` others would
    make the loop over them one element off a multiple of the number of parts (see `_spans`).
    """
    steps = jnp.arange(lo, hi, dtype=scheduler.last_epoch.dtype)

    def row(k):
        return pick(jump(scheduler, k), value, group).astype(now.dtype)

    if collecting():
        rows, codes = jax.vmap(checked(row))(steps)
        report(codes)
    else:
        rows = jax.vmap(row)(steps)
    if lo > 0:
        return rows
    return jnp.where((steps == 0).reshape(-1, *(1,) * now.ndim), now, rows)


def values(scheduler: AbstractScheduler, n: int, *, value: Value = "lr", group: int | None = None) -> Array:
    """The scheduler's next `n` values at once: row `k` is the value after `k` more steps.

    `values(sched, n)[0]` is `sched.lr`, `values(sched, n)[k]` the lr of `sched` stepped `k`
    times, so the result equals `[s.lr for s in trajectory]` without stepping in Python.
    Schedulers with a closed form in the step count (all but `MultiplicativeLR`, a
    `ChainedScheduler` with a child that is not multiplicative, and a `SequentialLR` holding
    one of those, `SWALR` or a metric-watching child) are evaluated at all `n` counts at
    once, vectorised; the others are stepped in a `lax.scan`. Both run the scheduler's own step
    computation, so the values are those of `step` (to the last bit or within a few ulp: the
    compiler may vectorise and fuse differently).

    Compiled once per scheduler configuration (class and static fields), array shapes, `n`,
    `value` and `group`, and reused for every scheduler of that configuration whatever its
    state. Works eagerly and inside `jax.jit`, `lax.scan` and `jax.vmap`; for a batch built
    with `vmap`, `jax.vmap(lambda s: values(s, n))(batch)` gives shape `(batch, n, ...)`.

    **Arguments:**

    - `scheduler`: a metric-free scheduler (not `ReduceLROnPlateau`, nor a composite holding
        one: their values depend on the metrics they will see).
    - `n`: how many values, a non-negative Python integer (static: it fixes the shape).
    - `value`: `"lr"` (default) or `"momentum"` (cycled by `CyclicLR`/`OneCycleLR`).
    - `group`: a param group's index, to get that group only; by default every group.

    **Returns** an array of shape `(n, *groups)` (`(n,)` for one group or with `group`), in
    the scheduler's float dtype.

    **Raises** `ValueError` for a scheduler that steps on a metric, and wherever stepping
    would raise (e.g. a `OneCycleLR` stepped past `total_steps`).
    """
    n = _check(scheduler, n, value, group)
    # As `step` does: a concrete scheduler's fingerprint is checked (see `statefulsched.verify`).
    if not traced(scheduler) and mismatch(scheduler) is not None:
        raise ValueError(f"`values` of a `{type(scheduler).__name__}`: {MISMATCH}")
    curve, code = _curve(scheduler, n=n, value=value, group=group)
    if not isinstance(code, jax.core.Tracer):
        raise_failed(code)  # as the eager `step` does
    return curve
