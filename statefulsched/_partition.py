"""`partition` and `combine`: a scheduler's state apart from its configuration."""

import collections
import dataclasses
import functools
import typing
from typing import Any, NamedTuple, TypeVar

import equinox as eqx
import jax.numpy as jnp
from jax import lax

from ._base import AbstractScheduler, replace
from ._validation import is_traced

Scheduler = TypeVar("Scheduler", bound=AbstractScheduler)


def _rebuild_state(cls: type, values: tuple) -> NamedTuple:
    return state_type(cls)(*values)


@functools.cache
def state_type(cls: type) -> type:
    """The `NamedTuple` holding the state of a scheduler of class `cls`: one field per name in
    `cls._state_fields` (`schedulers`, for a composite, holds its children's states).

    Made once per class. It pickles through the scheduler class, which pickle can find by
    name, where the generated type itself could not be found in a fresh process.
    """
    name = f"{cls.__name__}State"
    base = collections.namedtuple(name, cls._state_fields)

    def __reduce__(self):
        return _rebuild_state, (cls, tuple(self))

    return type(name, (base,), {"__slots__": (), "__reduce__": __reduce__, "__module__": cls.__module__})


def _state_of(node: AbstractScheduler) -> NamedTuple:
    fields = type(node)._state_fields
    values = (
        tuple(_state_of(child) for child in node.schedulers) if name == "schedulers" else getattr(node, name)
        for name in fields
    )
    return state_type(type(node))(*values)


def _config_of(node: AbstractScheduler) -> AbstractScheduler:
    changes: dict[str, Any] = {name: None for name in type(node)._state_fields}
    if "schedulers" in changes:
        changes["schedulers"] = tuple(_config_of(child) for child in node.schedulers)
    return replace(node, **changes)


@functools.cache
def _group_fields(cls: type) -> tuple[str, ...]:
    """The fields of `cls` with one entry per param group (annotated `Float[Array, "*groups"]`)."""
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if any(getattr(t, "dim_str", None) == "*groups" for t in typing.get_args(f.type) or (f.type,))
    )


def _check_groups(state: Any, config: AbstractScheduler, where: str) -> None:
    """All per-group arrays, the state's and the configuration's, have one shape."""
    cls = type(config)
    shapes = {}
    for name in _group_fields(cls):
        value = getattr(state, name) if name in cls._state_fields else getattr(config, name)
        if value is not None:
            shapes.setdefault(tuple(jnp.shape(value)), name)
    if len(shapes) > 1:
        (shape, name), (other_shape, other) = list(shapes.items())[:2]
        half, other_half = ("state" if n in cls._state_fields else "config" for n in (name, other))
        raise ValueError(
            f"`statefulsched.combine`: `{half}{where}.{name}` has shape {shape} and `{other_half}{where}.{other}` "
            f"shape {other_shape}: the halves come from `{cls.__name__}`s with different numbers of param groups."
        )


def _combine(state: Any, config: AbstractScheduler, where: str) -> AbstractScheduler:
    cls = type(config)
    expected = state_type(cls)
    if type(state) is not expected:
        got = type(state).__name__
        raise ValueError(
            f"`statefulsched.combine`: `state{where}` must be the `{expected.__name__}` that "
            f"`statefulsched.partition` makes of a `{cls.__name__}`, got {got}: they come from schedulers of "
            "different configurations, or the halves are swapped."
        )
    changes = {}
    for name, value in zip(cls._state_fields, state):
        if name == "schedulers":
            children = config.schedulers
            if len(value) != len(children):
                raise ValueError(
                    f"`statefulsched.combine`: `state{where}` holds {len(value)} children's states, the "
                    f"configuration `{cls.__name__}` has {len(children)} children."
                )
            value = tuple(_combine(s, c, f"{where}.schedulers[{i}]") for i, (s, c) in enumerate(zip(value, children)))
        elif getattr(config, name) is not None:
            raise ValueError(
                f"`statefulsched.combine`: `config{where}` must be the configuration half that "
                f"`statefulsched.partition` makes of a `{cls.__name__}`, got a `{cls.__name__}` whose state "
                f"field `{name}` is set: a whole scheduler, not its configuration."
            )
        changes[name] = value
    _check_groups(state, config, where)
    return replace(config, **changes)


def partition(scheduler: Scheduler) -> tuple[NamedTuple, Scheduler]:
    """Split a scheduler into its state and its configuration, to close over the configuration.

    A scheduler carried through a jitted train step passes all its arrays in and out of
    every call: its state (`last_epoch`, `lr`, plateau counters) and its numeric
    hyperparameters, which never change. On the project's CPU each array passed costs the
    host about 2 µs per call, and flattening or rebuilding each Equinox module about 4 µs,
    so a carried `OneCycleLR` (13 arrays) adds 50-75 µs to a jitted train step's call and
    its 3 state arrays in a `NamedTuple` 5-10 µs (`benchmarks/performance.py`). Closing over
    the configuration leaves only the state to carry:

    ```python
    sched_state, sched_config = ss.partition(ss.OneCycleLR(1e-3, total_steps=10_000))

    @jax.jit
    def train_step(params, opt_state, sched_state, x, y):
        sched = ss.combine(sched_state, sched_config)  # closed over: constants
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        sched = sched.step()
        opt_state = ss.optax.set_hyperparams(opt_state, sched)
        sched_state, _ = ss.partition(sched)
        return optax.apply_updates(params, updates), opt_state, sched_state, loss
    ```

    The step then compiles once per configuration *value* (a new `max_lr` is a new
    program), where a carried scheduler compiles once per configuration *structure*. Carry
    the whole scheduler when one program should serve many hyperparameter values (a
    `jax.vmap` sweep). Inside a trace, `combine` puts a closed-over configuration behind
    `lax.optimization_barrier`, so XLA does not specialise the step on the hyperparameters'
    values (a division by a constant through its reciprocal, `x ** 2.0` as `x * x`): the
    lrs are those of a carried scheduler, to the last bit in 57 of the 59 tested
    configurations and within 2 ulp in the other two, which XLA fuses differently.
    The optax adapters (`learning_rate=sched`, `stateful_schedule`, `scale_by_scheduler`)
    make this split themselves.

    **Arguments:**

    - `scheduler`: any scheduler, or a batch of them built with `jax.vmap`.

    **Returns** `(state, config)`:

    - `state`: a `NamedTuple` of the arrays `step` changes, named after the scheduler
        (`OneCycleLRState(last_epoch, lr, momentum)`); a composite's has its children's
        states in `schedulers`. Checkpoint it like any pytree.
    - `config`: the scheduler with `None` in its state fields: its hyperparameters, static
        fields and the fingerprint of its static configuration.

    [`combine`][] puts them back together.
    """
    if not isinstance(scheduler, AbstractScheduler):
        raise TypeError(
            "`statefulsched.partition`: `scheduler` must be a scheduler, got "
            f"{type(scheduler).__name__}: {scheduler!r:.80}."
        )
    return _state_of(scheduler), _config_of(scheduler)


def combine(state: NamedTuple, config: Scheduler) -> Scheduler:
    """Put back together a scheduler split by [`partition`][].

    **Arguments:**

    - `state`: the state half, possibly stepped since (under `jit`, `scan` or `vmap` alike).
    - `config`: the configuration half.

    **Returns** the scheduler: `config` with the arrays of `state`.

    **Raises**

    - `ValueError` when the halves do not come from schedulers of the same class and
        children, or are swapped, or `config` is a whole scheduler, or when their per-group
        arrays (`lr`, `base_lr`, ...) differ in shape, i.e. in the number of param groups;
    - `TypeError` when `config` is not a scheduler.

    Only the structure and shapes are checked (at trace time), not the values: combine the
    halves of one `partition`.
    """
    if not isinstance(config, AbstractScheduler):
        raise TypeError(
            "`statefulsched.combine`: `config` must be the configuration half of a scheduler, got "
            f"{type(config).__name__}: {config!r:.80}."
        )
    if is_traced(state) and not is_traced(config):
        # The configuration is closed over: constants of the program being traced. Behind a
        # barrier XLA cannot specialise the step on their values (divide by a constant through
        # its reciprocal, `x ** 2.0` as `x * x`), so the step computes what it computes on a
        # carried scheduler.
        arrays, static = eqx.partition(config, eqx.is_array)
        config = eqx.combine(lax.optimization_barrier(arrays), static)
    return _combine(state, config, "")
