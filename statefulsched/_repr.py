"""A scheduler's `repr`: its arguments and state as values, the way torch users read them.

`StepLR(lr=0.1, step_size=30, gamma=0.1, last_epoch=5, last_lr=0.1)`: the configuration
under the constructor's argument names, then `last_epoch` and the rest of the state (the
current lr as `last_lr`, torch's `get_last_lr()`). Scalars and small arrays (a few param
groups, a batch built with `jax.vmap`) show their values; a large array, or a traced one,
keeps Equinox's summary (`f32[1000]`). Derived constants (a logarithm kept for accuracy,
the fingerprint) are left out.
"""

import dataclasses
import functools
import inspect
from typing import Any

import jax
import numpy as np

# Arrays with more elements than this are summarised (`f32[1000]`) rather than listed.
_MAX_SHOWN = 16


def _number(x: np.generic) -> str:
    if isinstance(x, np.bool_):
        return repr(bool(x))
    if isinstance(x, np.integer):
        return repr(int(x))
    if isinstance(x, np.floating):
        # The shortest decimal that reads back to the same value (a float32 0.1 shows as
        # 0.1, not 0.10000000149011612), written as Python writes that decimal.
        return repr(float(np.format_float_positional(x, unique=True)))
    return repr(x.item())


def _summary(x: Any) -> str:
    dtype = np.dtype(x.dtype)
    kind = {"f": "f", "i": "i", "u": "u", "b": "bool"}.get(dtype.kind, dtype.name)
    bits = "" if kind == "bool" else str(8 * dtype.itemsize)
    return f"{kind}{bits}[{','.join(map(str, x.shape))}]"


def _nested(a: np.ndarray) -> str:
    if a.ndim == 0:
        return _number(a[()])
    return "[" + ", ".join(_nested(row) for row in a) + "]"


def show(value: Any) -> str:
    """One value of a scheduler's `repr`."""
    from ._base import AbstractScheduler  # which imports this module

    if isinstance(value, AbstractScheduler):
        return repr(value)
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and callable(value[0]) and not isinstance(value[0], AbstractScheduler):
            # One function (`lr_lambda`) for every param group.
            return show(value[0])
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, jax.core.Tracer):
        return _summary(value)
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if value.size > _MAX_SHOWN:
            return _summary(value)
        return _nested(np.asarray(value))
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type(value).__name__
    return repr(value)


def describe(scheduler: Any) -> str:
    """`Name(argument=value, ..., last_epoch=k, last_lr=lr, other state...)`."""
    cls = type(scheduler)
    state = cls._state_fields
    shown = []
    for name, value in scheduler._repr_arguments():
        shown.append(f"{name}={show(value)}")
    for name in ("last_epoch", *[n for n in state if n != "last_epoch"]):
        value = getattr(scheduler, name, None)
        if value is None or name == "schedulers":
            continue
        shown.append(f"{'last_lr' if name == 'lr' else name}={show(value)}")
    return f"{cls.__name__}({', '.join(shown)})"


@functools.cache
def _parameter_order(cls: type) -> dict[str, int]:
    return {name: i for i, name in enumerate(inspect.signature(cls.__init__).parameters)}


def arguments(scheduler: Any) -> list[tuple[str, Any]]:
    """The configuration fields shown, under the constructor's names (`base_lr` is `lr`), in
    the constructor's order; derived ones (`initial_lr` of `OneCycleLR`) after them."""
    cls = type(scheduler)
    out = []
    for field in dataclasses.fields(scheduler):
        if not field.repr or field.name in cls._state_fields or field.name == "fingerprint":
            continue
        value = getattr(scheduler, field.name)
        if value is None:
            continue
        name = "lr" if field.name == "base_lr" and cls._takes_lr else field.name
        out.append((name, value))
    if "schedulers" in cls._state_fields:
        out.append(("schedulers", list(scheduler.schedulers)))
    order = _parameter_order(cls)
    return sorted(out, key=lambda item: order.get(item[0], len(order)))
