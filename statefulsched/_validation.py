"""Argument checking shared by the scheduler constructors.

Two layers, as in the style guide: structural mistakes (unknown mode strings, unsorted
milestones, wrong group counts) raise `ValueError` at construction; value constraints are
checked in Python when the value is concrete and through `eqx.error_if` when it is traced
(e.g. when schedulers are built under `jax.vmap`), so construction never breaks on tracers.
"""

import math
import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._numerics import as_float, as_int


def is_traced(x: Any) -> bool:
    if isinstance(x, jax.core.Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(isinstance(v, jax.core.Tracer) for v in x)
    return False


def _show(value: Any) -> str:
    if isinstance(value, (jax.Array, np.ndarray)):
        value = np.asarray(value).tolist()
    return repr(value)


def fail(call: str, name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"`{call}({name}=...)` must be {expected}, got {_show(value)}.")


def _checked(call, name, value, array, ok, expected):
    if is_traced(value):
        return eqx.error_if(array, jnp.logical_not(jnp.all(ok(array))), f"`{call}({name}=...)` must be {expected}.")
    if not bool(np.all(ok(np.asarray(array)))):
        raise fail(call, name, value, expected)
    return array


def real(
    call: str,
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> Array:
    """A finite float (scalar or array) in the given interval, as a float leaf."""
    if isinstance(value, bool) or (
        not is_traced(value) and not isinstance(value, (int, float, np.ndarray, jax.Array, np.number, list, tuple))
    ):
        raise fail(call, name, value, "a real number")
    try:
        array = as_float(value)
    except (TypeError, ValueError):
        raise fail(call, name, value, "a real number") from None
    lo = operator.gt if low_open else operator.ge
    hi = operator.lt if high_open else operator.le
    expected = "a finite number"
    if low > -math.inf or high < math.inf:
        left = "(" if low_open else "["
        right = ")" if high_open or high == math.inf else "]"
        lo_txt = "-inf" if low == -math.inf else f"{low:g}"
        hi_txt = "inf" if high == math.inf else f"{high:g}"
        expected = f"a finite number in {left}{lo_txt}, {hi_txt}{right}"

    def ok(x):
        xp = jnp if isinstance(x, jax.Array) else np
        return xp.isfinite(x) & lo(x, low) & hi(x, high)

    return _checked(call, name, value, array, ok, expected)


def integer(call: str, name: str, value: Any, *, low: int = 1) -> Array:
    """An integer count `>= low`, as an int32 leaf (traced values must have an int dtype)."""
    expected = "a positive integer" if low == 1 else f"an integer >= {low}"
    if is_traced(value):
        if not jnp.issubdtype(jnp.result_type(value), jnp.integer):
            raise fail(call, name, value, expected + " (an integer-dtype array when traced)")
        return _checked(call, name, value, as_int(value), lambda x: x >= low, expected)
    if isinstance(value, (jax.Array, np.ndarray, np.integer)):
        if not np.issubdtype(np.asarray(value).dtype, np.integer):
            raise fail(call, name, value, expected)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise fail(call, name, value, expected)
    if not np.all(np.asarray(value) >= low) or np.any(np.asarray(value) > np.iinfo(np.int32).max):
        raise fail(call, name, value, expected)
    return as_int(value)


def choice(call: str, name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        shown = ", ".join(repr(o) for o in options)
        raise fail(call, name, value, f"one of {shown}")
    return value


def groups(call: str, name: str, value: Any, n_groups: int | None) -> tuple[Any, int | None]:
    """Normalise a per-group argument; returns `(value, n_groups)`.

    A list or tuple gives one value per param group; a scalar applies to every group.
    """
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise fail(call, name, value, "a number or a non-empty list of numbers")
        if n_groups is not None and len(value) != n_groups:
            raise ValueError(
                f"`{call}({name}=...)` has {len(value)} values but the scheduler has "
                f"{n_groups} param groups; pass one value per group or a single number."
            )
        return list(value), len(value)
    return value, n_groups


def per_group(call: str, name: str, value: Any, n_groups: int | None, **bounds) -> Array:
    """A per-group float hyperparameter, broadcast to the scheduler's group shape."""
    value, _ = groups(call, name, value, n_groups)
    array = real(call, name, value, **bounds)
    if n_groups is not None and array.ndim == 0:
        array = jnp.broadcast_to(array, (n_groups,))
    return array


def base_lr(call: str, value: Any, name: str = "lr") -> tuple[Array, int | None]:
    """The optimizer learning rate(s): returns the leaf and the number of groups (None: one)."""
    value, n_groups = groups(call, name, value, None)
    return real(call, name, value, low=0.0), n_groups


def callables(call: str, name: str, value: Any, n_groups: int | None) -> tuple[Callable, ...]:
    fns, _ = groups(call, name, value, n_groups)
    fns = fns if isinstance(fns, list) else [fns] * (n_groups or 1)
    for fn in fns:
        if not callable(fn):
            raise fail(call, name, value, "a callable or a list of callables")
    return tuple(fns)


def no_resume(call: str, last_epoch: Any) -> None:
    if not (isinstance(last_epoch, int) and last_epoch == -1):
        raise ValueError(
            f"`{call}(last_epoch=...)` must be -1, got {_show(last_epoch)}. Resuming a run is "
            "done by restoring a saved scheduler (`eqx.tree_deserialise_leaves`), not by "
            "passing `last_epoch`."
        )


_VERBOSE_UNSET = "deprecated"


def deprecated_verbose(call: str, verbose: Any) -> None:
    if verbose is not _VERBOSE_UNSET and verbose != _VERBOSE_UNSET:
        warnings.warn(
            f"`{call}(verbose=...)` is deprecated and ignored (PyTorch removed it); "
            "print `scheduler.get_last_lr()` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
