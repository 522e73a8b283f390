"""Torch habits that would fail silently here, caught where they happen.

- `sched.step()` (or `sched.load_state_dict(sd)`) without `sched = ...`: torch steps in place,
    ours returns the new scheduler. Each eager `step`/`load_state_dict` remembers, for the
    scheduler it was called on, a weak reference to its result. Stepping that scheduler again
    once its results are gone is the habit (after a dropped `load_state_dict`, or two dropped
    `step`s): it warns, once per scheduler. Keeping the result (branching), or one look ahead,
    is legitimate and does not warn. The references live in a small table beside the
    schedulers, so no pytree changes; it costs about 0.6 µs per eager step.
- An optimizer where the learning rate goes: torch's schedulers take the optimizer first.
- `step(epoch)` with an `int`: torch's removed form of `step`, here taken as a metric, which a
    metric-free scheduler ignores.
"""

import collections
import warnings
import weakref
from typing import Any

from ._validation import user_stacklevel

# id(scheduler) -> [weak ref to it, weak ref to the result of its last `step`/`load_state_dict`,
# that call's name, how many of its results were dropped, whether it warned]. Kept beside the
# schedulers, not in them: Equinox flattens a module's instance dictionary, so anything stored
# there would change its pytree. Bounded: the oldest entries go first (a long run steps a new
# scheduler every time), and an entry is only trusted while its weak reference is alive.
_ENTRIES: collections.OrderedDict[int, list] = collections.OrderedDict()  # O(1) removal of the oldest
_MAX_ENTRIES = 64  # a training loop steps a handful of schedulers


def remember(scheduler: Any, result: Any, call: str) -> None:
    """Record that `result` came from `call` on `scheduler` (see the module docstring)."""
    key = id(scheduler)
    entry = _ENTRIES.get(key)
    if entry is not None and entry[0]() is scheduler:
        entry[1], entry[2] = weakref.ref(result), call
        return
    _ENTRIES[key] = [weakref.ref(scheduler), weakref.ref(result), call, 0, False]
    if len(_ENTRIES) > _MAX_ENTRIES:
        _ENTRIES.popitem(last=False)


def check_superseded(scheduler: Any) -> None:
    """Warn, once, if `scheduler` is stepped again after results of `step` (two) or
    `load_state_dict` (one) that were not kept: torch's `sched.step()`, here a no-op."""
    entry = _ENTRIES.get(id(scheduler))
    if entry is None or entry[4] or entry[1]() is not None or entry[0]() is not scheduler:
        return
    # One dropped `step` result may be a look ahead (`assert sched.step().lr < sched.lr`, or a
    # preview of the curve from the same start); two are the habit. A dropped
    # `load_state_dict` result is the habit at once.
    entry[3] += 1
    if entry[2] == "step" and entry[3] < 2:
        return
    entry[4] = True
    name, call = type(scheduler).__name__, entry[2]
    warnings.warn(
        f"`{name}.step` was called on a scheduler whose `{call}` result was not kept. statefulsched "
        f"schedulers are immutable: `{call}` returns the new scheduler and leaves this one unchanged "
        f"(torch changes it in place), so this step starts again from the old state. Write "
        f"`sched = sched.{call}(...)`.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def warn_epoch_argument(name: str, epoch: int) -> None:
    warnings.warn(
        f"`{name}.step({epoch})`: this scheduler takes no metric and ignores the argument of `step`, so it "
        "advanced by one step. torch's `step(epoch)` (deprecated there) jumped to an epoch; here a scheduler "
        "starts at an epoch when built with `last_epoch=epoch - 1`, or with `ss.load`/`load_state_dict`.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def optimizer_kind(value: Any) -> str | None:
    """What kind of optimizer `value` is (`"torch"`, `"optax"`, `"flax"`, `"keras"`), if any.

    Recognised by class, without importing torch, flax or keras.
    """
    cls = type(value)
    module = cls.__module__ or ""
    bases = {base.__name__ for base in cls.__mro__}
    if module.startswith("torch.") and hasattr(value, "param_groups"):
        return "torch"
    if "GradientTransformation" in bases or "GradientTransformationExtraArgs" in bases:
        return "optax"
    if module.startswith("flax.") and "Optimizer" in bases:
        return "flax"
    if module.startswith("keras") and "Optimizer" in bases:
        return "keras"
    return None


def _short(value: Any) -> str:
    text = value.__class__.__name__ if isinstance(value, (list, tuple)) and len(repr(value)) > 60 else repr(value)
    return "[...]" if text in ("list", "tuple") else text


def optimizer_error(call: str, parameter: str, value: Any, rest: list, kwargs: dict, takes_lr: bool) -> TypeError:
    """The error for an optimizer passed as `parameter` of `call`, with the line to write instead.

    `takes_lr`: the scheduler is built from the optimizer's lr (`StepLR`), which then goes in
    the optimizer's place; otherwise (`OneCycleLR`, composites) the optimizer is just dropped.
    """
    kind = optimizer_kind(value)
    lr = "lr"
    if kind == "torch":
        lrs = [group.get("lr") for group in value.param_groups]
        lr = repr(lrs[0]) if len(lrs) == 1 else repr(lrs)
    described = {
        "torch": f"a torch optimizer (`{type(value).__name__}`)",
        "optax": "an optax `GradientTransformation`",
        "flax": "a Flax `nnx.Optimizer`",
        "keras": f"a Keras optimizer (`{type(value).__name__}`)",
    }[kind]
    first = [lr] if takes_lr else []
    arguments = ", ".join([*first, *map(_short, rest), *(f"{k}={_short(v)}" for k, v in kwargs.items())])
    instead = (
        "pass the optimizer's learning rate where torch takes the optimizer (a list of one lr per param group)"
        if takes_lr
        else "leave the optimizer out"
    )
    return TypeError(
        f"`{call}({parameter}=...)` got {described}: pass the learning rate, not the optimizer. statefulsched "
        "schedulers hold the lr themselves, where torch's take the optimizer and change its lr in place: "
        f"{instead}, `ss.{call}({arguments})`, then write `sched.lr` into the optimizer "
        "(`ss.optax.set_hyperparams`)."
    )
