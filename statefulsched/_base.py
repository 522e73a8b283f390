"""The scheduler base classes and the fast eager `step`."""

import abc
import dataclasses
import functools
import inspect
import operator
from collections.abc import Iterator
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from ._errors import checked, raise_failed
from ._fingerprint import MISMATCH, describe_static, fingerprint, mismatch, static_config, traced, walk
from ._habits import check_superseded, optimizer_error, optimizer_kind, remember, warn_epoch_argument
from ._numerics import INT32_MAX, INT_DTYPE, float_dtype
from ._repr import arguments, describe

Metric = ArrayLike | float | None


class _PlainMethod:
    """Binds like a method, but to a `functools.partial` rather than a bound method.

    Equinox turns every bound method of a Module into a `BoundMethod` pytree on attribute
    access, which costs about 20 µs, longer than the whole eager `step` is allowed to
    take. A partial is built in a fraction of a microsecond.
    """

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self.fn
        return functools.partial(self.fn, obj)


def normalise_metric(metric: Any) -> Any:
    """Give every metric one dtype and strong typing so the step compiles once.

    Python floats become NumPy scalars of the working float dtype (cheaper to hand to a
    compiled function than a JAX array, and strongly typed); JAX arrays of another dtype
    or weak type are converted. Anything else with `__float__` (a torch tensor, say) is
    converted through `float`, like torch's own `ReduceLROnPlateau` does.
    """
    dtype = float_dtype()
    if isinstance(metric, jax.Array):
        if metric.dtype == dtype and not metric.weak_type:
            return metric
        return lax.convert_element_type(metric, dtype)
    if isinstance(metric, (float, int, np.number, np.ndarray)):
        return np.asarray(metric, dtype=dtype)
    return np.asarray(float(metric), dtype=dtype)


def _mismatch_message(cls: type, where: str = "") -> str:
    return f"`{cls.__name__}.step`{where}: {MISMATCH}"


def _own_state(node: "AbstractScheduler") -> tuple:
    """The state arrays of one scheduler, a composite's children excepted."""
    return tuple(getattr(node, name) for name in type(node)._state_fields if name != "schedulers")


def advance(scheduler: "AbstractScheduler", metric: Any) -> "AbstractScheduler":
    """One step: `scheduler._advance(metric)`, with step counts that stop at `2**31 - 1`.

    Step counts are `int32`, as optax's are, and like optax's count they saturate rather
    than wrap around to `-2**31` (where a `StepLR` lr became `inf`): a count (the
    scheduler's, or a child's) already at `2**31 - 1` is taken as `2**31 - 2`, so the step
    is the one that reached the end again. A closed form therefore holds its value there; a
    recurrence (`MultiplicativeLR`, `ReduceLROnPlateau`) goes on applying its step.

    The clamp acts on the counts going in, not on the state coming out: a select over the
    new state changed how XLA fused a `SequentialLR`'s float arithmetic, by an ulp or two.
    """
    return _clamp_counts(scheduler)._advance(metric)


def _clamp_counts(node: "AbstractScheduler") -> "AbstractScheduler":
    new = replace(node, last_epoch=jnp.minimum(node.last_epoch, INT32_MAX - 1))
    if "schedulers" in type(node)._state_fields:
        _dict_of(new)["schedulers"] = tuple(_clamp_counts(child) for child in node.schedulers)
    return new


@jax.jit
@checked
def _advance_state(scheduler: "AbstractScheduler", metric: Any) -> tuple:
    """The compiled step of a composite: the scheduler goes in as a pytree.

    Only state comes out, each scheduler's in `walk` order: every output array costs
    about 1.5 µs of an eager call, and the children's configuration does not change.
    The code of the children's runtime checks comes out too (see `_errors.py`).
    """
    new = advance(scheduler, metric)
    return tuple(_own_state(node) for node in walk(new))


def _rebuild(old: "AbstractScheduler", states: Iterator[tuple]) -> "AbstractScheduler":
    """`old` (and its children, in `walk` order) with the state taken from `states`."""
    names = [name for name in type(old)._state_fields if name != "schedulers"]
    new = replace(old, **dict(zip(names, next(states))))
    if "schedulers" in type(old)._state_fields:
        _dict_of(new)["schedulers"] = tuple(_rebuild(child, states) for child in old.schedulers)
    return new


# Equinox routes every attribute access through a Python `__getattribute__`; reading the
# instance dictionary through `object`'s saves a fraction of a microsecond per access.
def _dict_of(obj: Any) -> dict:
    return object.__getattribute__(obj, "__dict__")


class _Kernel:
    """A compiled step of one configuration and what calling it takes.

    - `run`: the compiled step.
    - `gather`: `(fields, scheduler) -> arguments` of the step, the metric excepted.
    - `outputs`: the names of the fields the step returns.
    - `checks`: whether the step has runtime checks; it then returns their code too, last
        (a composite's step always does; see `_errors.py`).
    - `expected`: the fingerprint of the configuration; `None` for composites, whose
        children are checked one by one (`_check_composite`).
    - `verified`: the fingerprint leaf (composites: the tuple of leaves, and whether a
        child has runtime checks) last found to match. A concrete `step` checks the leaf in
        Python when it is not this very object; since the leaf is carried unchanged from step
        to step, that happens once per run or restore, and every other step costs one
        identity comparison.
    """

    __slots__ = ("run", "gather", "outputs", "checks", "expected", "message", "verified")

    def __init__(self, run, gather, outputs, checks, expected=None, message=""):
        self.run, self.gather, self.outputs, self.checks = run, gather, outputs, checks
        self.expected, self.message, self.verified = expected, message, None


class _ClassInfo:
    """Per scheduler class: how to key its compiled steps and gather their arguments."""

    def __init__(self, cls: type):
        fields = dataclasses.fields(cls)
        self.static = tuple(f.name for f in fields if f.metadata.get("static", False))
        self.dynamic = tuple(f.name for f in fields if not f.metadata.get("static", False))
        self.composite = issubclass(cls, _Composite)
        self.kernels: dict[tuple, _Kernel] = {}
        if self.composite:
            self.kernels[()] = _Kernel(_advance_state, _gather_self, (), checks=True)


_INFO: dict[type, _ClassInfo] = {}


def _gather_self(fields: dict, scheduler: "AbstractScheduler") -> tuple:
    return (scheduler,)


def _kernel_for(scheduler: "AbstractScheduler", fields: dict) -> _Kernel:
    """The compiled step of `scheduler`'s configuration.

    Handing a module to `jax.jit` makes it flatten the module in Python and hash its
    static fields on every call. Passing the arrays as flat positional arguments takes
    jit's C++ fast path instead, which saves a few microseconds per eager `step`.
    The static configuration (and which fields are `None`) is baked into the
    kernel, one per class and static configuration. Composites, whose fields hold
    modules, use the pytree path.
    """
    cls = type(scheduler)
    info = _INFO.get(cls)
    if info is None:
        info = _INFO[cls] = _ClassInfo(cls)
    if info.composite:
        return info.kernels[()]
    # Which array fields are `None` (e.g. momentum when it is not cycled) is part of the key.
    key = (*[fields[name] for name in info.static], *[fields[name] is None for name in info.dynamic])
    entry = info.kernels.get(key)
    if entry is None:
        # The fingerprint is checked before the call (see `_Kernel`), not passed in.
        arrays = tuple(name for name in info.dynamic if fields[name] is not None and name != "fingerprint")
        nones = tuple(name for name in info.dynamic if fields[name] is None)
        outputs = tuple(name for name in cls._state_fields if name in arrays)
        statics = tuple(fields[name] for name in info.static)
        expected = fingerprint(cls, {name: describe_static(value) for name, value in zip(info.static, statics)})
        message = _mismatch_message(cls)

        def run(*values):
            module = object.__new__(cls)
            module.__dict__.update(zip(info.static, statics))
            module.__dict__.update(dict.fromkeys(nones))
            module.__dict__.update(zip(arrays, values[:-1]))
            new, code = checked(advance)(module, values[-1])
            out = tuple(getattr(new, name) for name in outputs)
            return (*out, code) if cls._has_runtime_checks else out

        getter = operator.itemgetter(*arrays)  # a tuple: every scheduler has >= 2 arrays
        entry = info.kernels[key] = _Kernel(
            jax.jit(run),
            lambda fields, self: getter(fields),
            outputs,
            cls._has_runtime_checks,
            expected,
            message,
        )
    return entry


def _step(self: "AbstractScheduler", metric: Metric = None) -> "AbstractScheduler":
    """Advance the schedule by one step and return the new scheduler.

    `self` is left unchanged. `metric` is the quantity a `ReduceLROnPlateau` watches
    (a Python float or a JAX scalar); schedulers that do not use it ignore it, so a
    generic loop can pass a metric to any scheduler.

    Eagerly this runs one compiled function over the scheduler's arrays (compiled once
    per configuration and reused for the whole run); under `jax.jit`, `lax.scan` or
    `jax.vmap` it traces into the surrounding computation. An eager step also checks the
    fingerprint of the static configuration (see `statefulsched.verify`); a traced one
    adds nothing to the program but the step itself.

    Step counts are `int32`: once `last_epoch` reaches `2**31 - 1` it stays there, as
    optax's count saturates, rather than wrapping around; a further step repeats the step
    that reached it (see `advance`).
    """
    fields = _dict_of(self)
    check_superseded(self)
    if metric is not None:
        if type(metric) is int and not uses_metric(self):
            warn_epoch_argument(type(self).__name__, metric)
        metric = normalise_metric(metric)
    if isinstance(fields["last_epoch"], jax.core.Tracer) or isinstance(metric, jax.core.Tracer):
        # Traced into a larger computation: the step itself, nothing else (no fingerprint
        # check, no runtime checks: see `_errors.py`).
        return advance(self, metric)
    entry = _kernel_for(self, fields)
    kernel, arguments = entry.run, entry.gather(fields, self)
    if entry.expected is None:
        checks = _check_composite(self, entry)
    else:
        leaf = fields["fingerprint"]
        if leaf is not entry.verified and not isinstance(leaf, jax.core.Tracer):
            if np.any(np.asarray(leaf) != entry.expected):
                raise ValueError(entry.message)
            entry.verified = leaf
    values = kernel(*arguments, metric)
    if entry.expected is None:
        values, code = values
        if checks:
            raise_failed(code)
        new = _rebuild(self, iter(values))
    else:
        if entry.checks:
            raise_failed(values[-1])
        new = object.__new__(type(self))
        new_fields = _dict_of(new)
        new_fields.update(fields)
        new_fields.update(zip(entry.outputs, values))
    remember(self, new, "step")
    return new


def _check_composite(scheduler: "AbstractScheduler", entry: _Kernel) -> bool:
    """The eager fingerprint check of a composite and its children (skipped when traced).

    Returns whether a child has runtime checks (so the step's error code must be read), which
    is known with the fingerprint leaves: cached with them (`entry.verified`).
    """
    nodes = list(walk(scheduler))
    leaves = tuple(node.fingerprint for node in nodes)
    known = entry.verified
    if known is not None and len(known[0]) == len(leaves) and all(a is b for a, b in zip(leaves, known[0])):
        return known[1]
    checks = has_runtime_checks(scheduler)
    if traced(scheduler):
        return checks
    where = mismatch(scheduler)
    if where is not None:
        raise ValueError(_mismatch_message(type(scheduler), where))
    entry.verified = (leaves, checks)
    return checks


def replace(module, **changes):
    """A copy of `module` with some fields replaced (no `__init__`, no converters)."""
    new = object.__new__(type(module))
    new.__dict__.update(module.__dict__)
    new.__dict__.update(changes)
    return new


def _refuse_optimizer(cls: type, parameters: list[str], args: tuple, kwargs: dict) -> None:
    """An optimizer passed where torch's scheduler takes it (first) raises, with the line to write."""
    given = list(zip(parameters, args)) + list(kwargs.items())
    for i, (name, value) in enumerate(given):
        if optimizer_kind(value) is None or (name == "optimizer" and "optimizer" in parameters):
            continue
        positional = [v for j, (_, v) in enumerate(given[: len(args)]) if j != i]
        keywords = {k: v for k, v in kwargs.items() if v is not value}
        raise optimizer_error(cls.__name__, name, value, positional, keywords, cls._takes_lr)


class AbstractScheduler(eqx.Module):
    """Base class of every scheduler.

    A scheduler is an immutable Equinox module: its evolving state (`last_epoch`, `lr`,
    and whatever else the schedule needs) and its numeric hyperparameters are JAX arrays
    of fixed dtype, its modes and callables are static. `step` returns a new scheduler.

    **Attributes:**

    - `lr`: the current learning rate; a scalar for one param group, shape `(G,)` for `G`.
    - `last_epoch`: how many times `step` has been called (`int32`), as in torch.
    """

    lr: eqx.AbstractVar[Float[Array, "*groups"]]
    last_epoch: eqx.AbstractVar[Int[Array, ""]]
    # Set after every concrete `__init__` (see `__init_subclass__`) and checked by `step`.
    fingerprint: Int[Array, ""] = eqx.field(repr=False)

    # The fields `step` changes. Every other leaf is configuration and is reused as is.
    _state_fields: ClassVar[tuple[str, ...]]
    # Whether, inside a `SequentialLR`, it carries on from the lr of the previous scheduler
    # (through `_enter` at its milestone and `_chain` afterwards) as torch's
    # `MultiplicativeLR` and `SWALR` do, instead of restarting from its own initial state.
    _continues_shared_lr: ClassVar[bool] = False
    # Whether it is built from the optimizer's lr (held in its `base_lr` field); CyclicLR,
    # OneCycleLR and the composites are not. Composites check that such children agree.
    _takes_lr: ClassVar[bool] = True
    # Whether `_jump` computes the state any number of steps ahead directly, in constant
    # time (`values`, `to_schedule` and `SequentialLR`'s jump rely on it); otherwise
    # `_advance` is a recurrence, replayed step by step. Composites decide from their
    # children (`_has_closed_form`).
    _closed_form: ClassVar[bool] = False
    # Whether `step` needs a metric (`ReduceLROnPlateau`, and composites holding one).
    _uses_metric: ClassVar[bool] = False
    # Whether `_advance` makes runtime checks (`_errors.check`), which an eager step compiles in.
    _has_runtime_checks: ClassVar[bool] = False

    step = _PlainMethod(_step)

    def __init_subclass__(cls, **kwargs):
        # Every concrete scheduler ends its construction by recording the fingerprint of its
        # static configuration (`_fingerprint.py`), so no constructor can forget it.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_sets_fingerprint", False):
            return

        parameters = list(inspect.signature(init).parameters)[1:]

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            _refuse_optimizer(type(self), parameters, args, kwargs)
            init(self, *args, **kwargs)
            self.fingerprint = jnp.asarray(fingerprint(type(self), static_config(self)), INT_DTYPE)

        __init__._sets_fingerprint = True
        cls.__init__ = __init__

    def __repr__(self) -> str:
        return describe(self)

    __str__ = __repr__

    def _repr_arguments(self) -> list[tuple[str, Any]]:
        """The configuration `repr` shows, as `(argument name, value)` pairs."""
        return arguments(self)

    def get_last_lr(self) -> list[float]:
        """The current learning rate of each param group as Python floats, like torch."""
        return np.atleast_1d(np.asarray(self.lr)).tolist()

    def values(self, n: int, *, value: str = "lr", group: int | None = None) -> Array:
        """The next `n` values as one array: `values(n)[k]` is the value after `k` more steps.

        `values(n)[0]` is the current value. Closed-form schedules are evaluated for all `n`
        counts at once (vectorised); the others are stepped in a `lax.scan`. Compiled once
        per configuration and `n`. For a metric-free scheduler only.

        **Arguments:** `value`: `"lr"` (default) or `"momentum"`; `group`: one param group's.
        """
        from ._curve import values

        return values(self, n, value=value, group=group)

    def state_dict(self) -> dict[str, Any]:
        """torch's `state_dict()`: the scheduler's state as plain Python data, with torch's keys.

        It loads into the equivalent torch scheduler (`torch_sched.load_state_dict(...)`),
        and back into this one with `load_state_dict`.
        """
        # Imported here: the state-dict code knows every scheduler class, which import this module.
        from ._state_dict import state_dict

        return state_dict(self)

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> "AbstractScheduler":
        """A new scheduler with the state of `state_dict` (from `state_dict()`, or from torch).

        Unlike torch's, it returns the loaded scheduler and leaves `self` unchanged (write
        `sched = sched.load_state_dict(sd)`).

        **Arguments:**

        - `state_dict`: a dict from `state_dict()`, or from the equivalent torch scheduler.
        - `strict`: `True` (default): the configuration in `state_dict` must be `self`'s; a
            difference raises a `ValueError` saying what differs (running another schedule than
            the one you built is a classic torch trap). `False`: the configuration is taken from
            `state_dict`, as torch's `load_state_dict` does; `self` gives what the dict does not
            hold (functions, and the settings torch keeps in the optimizer).
        """
        from ._state_dict import load_state_dict

        loaded = load_state_dict(self, state_dict, strict)
        remember(self, loaded, "load_state_dict")
        return loaded

    # optax's `StatefulSchedule` protocol (`init`, `update`, `__call__`), so a scheduler can
    # be handed to `optax.inject_hyperparams` as it is; its schedule state is the state of
    # `partition`. There is deliberately no `__call__(count)`: optax would take that for a
    # plain schedule.

    def init(self) -> Any:
        """optax's `StatefulSchedule.init`: the schedule state, the scheduler's state `NamedTuple`.

        With `optax.inject_hyperparams(optax.sgd)(learning_rate=sched)`, optax reads the lr
        with `__call__` before each update and steps the scheduler with `update` after it,
        so update `k` (counting from 0) uses the lr of the scheduler after `k` steps. A
        metric-watching scheduler steps on the `value=` extra argument of the update.

        The optimizer state holds what [`statefulsched.partition`][] calls the state
        (`last_epoch`, `lr`, counters); the hyperparameters stay with `sched`, which the
        optimizer closes over, as optax closes over a schedule function's constants, so a
        jitted train step carries only the state arrays.
        """
        from ._partition import partition  # which builds on this module

        return partition(self)[0]

    def update(self, state: Any, **extra_args: Any) -> Any:
        """optax's `StatefulSchedule.update`: `state` stepped once (on `extra_args["value"]`)."""
        from ._partition import combine, partition  # which build on this module

        _check_schedule_state(self, state)
        scheduler = combine(state, partition(self)[1])
        return partition(scheduler.step(metric_from(scheduler, extra_args, "value")))[0]

    def __call__(self, state: Any, **extra_args: Any) -> Array:
        """optax's `StatefulSchedule.__call__`: the lr held in `state` (one param group only)."""
        del extra_args
        _check_schedule_state(self, state)
        if state.lr.ndim != 0:
            raise ValueError(
                f"`{type(self).__name__}` has {state.lr.shape[0]} param groups, but an optax hyperparameter "
                "takes one value; use `statefulsched.optax.stateful_schedule(sched, group=i)` for group `i`."
            )
        return state.lr

    @abc.abstractmethod
    def _advance(self, metric: Any) -> "AbstractScheduler":
        """One step on its own: the traceable body of `step`."""

    def _has_closed_form(self) -> bool:
        """Whether `_jump` applies to this scheduler."""
        return type(self)._closed_form

    def _jump(self, steps: Int[Array, ""]) -> "AbstractScheduler":
        """The state `steps >= 0` steps on (`int32`), when `_has_closed_form()`.

        By default `_advance` depends on nothing but `last_epoch` and the configuration, so
        setting `last_epoch` one short and advancing once gives it: the very computation
        `step` does, so the same numbers (at `steps == 0` the current value is recomputed).
        Classes with more state than the step count override it.
        """
        return replace(self, last_epoch=self.last_epoch + steps - 1)._advance(None)

    @abc.abstractmethod
    def _chain_init(self, lr: Array) -> Array:
        """The lr after this scheduler's construction-time step acts on a shared `lr`.

        torch builds every scheduler on one optimizer, and each constructor takes an
        initial step on the param groups' current lr; composites replay that.
        """

    @abc.abstractmethod
    def _chain(self, lr: Array, metric: Any) -> tuple["AbstractScheduler", Array]:
        """One step of torch's chainable form acting on a shared `lr` (`ChainedScheduler`)."""


def _check_schedule_state(scheduler: AbstractScheduler, state: Any) -> None:
    if not isinstance(state, tuple):  # the `NamedTuple` of `partition`, checked further by `combine`
        name = type(scheduler).__name__
        raise TypeError(
            f"`{name}` was called with {type(state).__name__} {state!r} as its state. optax calls a plain "
            "schedule with the step count, which is what happens when a scheduler is passed to an optimizer "
            "directly (`optax.adam(learning_rate=sched)`): wrap the optimizer instead, "
            "`optax.inject_hyperparams(optax.adam)(learning_rate=sched)`, or pass "
            "`statefulsched.optax.to_schedule(sched)`."
        )


def has_runtime_checks(scheduler: AbstractScheduler) -> bool:
    """Whether `scheduler` (or a child of it) makes runtime checks, whose code must then be read."""
    return any(type(node)._has_runtime_checks for node in walk(scheduler))


def uses_metric(scheduler: AbstractScheduler) -> bool:
    """Whether `scheduler` (or a child of it) steps on a metric."""
    return type(scheduler)._uses_metric or any(uses_metric(child) for child in getattr(scheduler, "schedulers", ()))


def metric_from(scheduler: AbstractScheduler, extra_args: dict[str, Any], name: str) -> Any:
    """The metric an optax update hands to `scheduler` through its extra argument `name`."""
    if not uses_metric(scheduler):
        return None
    if name not in extra_args:
        raise TypeError(
            f"`{type(scheduler).__name__}` inside an optax optimizer steps on the metric passed to every update "
            f"as `{name}=...`, e.g. `opt.update(grads, opt_state, params, {name}=loss)`; "
            f"the update got {sorted(extra_args) or 'no extra arguments'}."
        )
    return extra_args[name]


class AbstractMultiplicativeScheduler(AbstractScheduler):
    """A schedule `lr(t) = base_lr * factor(t)` whose chainable form multiplies.

    torch's chainable form of these schedulers scales the incoming lr by a per-step
    multiplier (`factor(t) / factor(t - 1)` in exact arithmetic); chaining several of them
    multiplies their factors, which `ChainedScheduler` computes in closed form so long
    runs do not drift.
    """

    base_lr: eqx.AbstractVar[Float[Array, "*groups"]]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr")
    _closed_form: ClassVar[bool] = True

    @abc.abstractmethod
    def _factor_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        """The cumulative factor after `t` steps (including the construction step)."""

    @abc.abstractmethod
    def _multiplier_at(self, t: Int[Array, ""]) -> Float[Array, ""]:
        """torch's chainable multiplier for step `t >= 1`, written as torch writes it.

        Not `factor(t) / factor(t - 1)`: both can underflow to zero in float32 long
        before the multiplier does.
        """

    def _factor(self) -> Float[Array, ""]:
        return self._factor_at(self.last_epoch)

    def _advance(self, metric: Any) -> "AbstractMultiplicativeScheduler":
        del metric
        t = self.last_epoch + 1
        return replace(self, last_epoch=t, lr=self.base_lr * self._factor_at(t))

    def _chain_init(self, lr: Array) -> Array:
        # At construction: step 0, or `k + 1` for `last_epoch=k` (the factor counts from there).
        return lr * self._factor_at(self.last_epoch)

    def _chain(self, lr: Array, metric: Any) -> tuple["AbstractScheduler", Array]:
        new = self._advance(metric)
        return new, (lr * self._multiplier_at(new.last_epoch)).astype(lr.dtype)


class AbstractOverridingScheduler(AbstractScheduler):
    """A schedule whose value does not depend on the lr it is handed.

    torch's `LambdaLR`, `CosineAnnealingWarmRestarts`, `CyclicLR` and `OneCycleLR` compute
    the lr from scratch at every step, so in a `ChainedScheduler` they overwrite whatever
    the schedulers before them did.
    """

    def _chain_init(self, lr: Array) -> Array:
        del lr
        return self.lr

    def _chain(self, lr: Array, metric: Any) -> tuple["AbstractScheduler", Array]:
        del lr
        new = self._advance(metric)
        return new, new.lr


class _Composite(AbstractScheduler):
    """Marks schedulers holding child schedulers: their eager step uses the pytree path."""
