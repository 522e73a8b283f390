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

from ._numerics import as_float, as_int, float_dtype


def is_traced(x: Any) -> bool:
    """Whether `x` (a value, a list of them, any pytree: a scheduler too) holds a tracer."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def _show(value: Any) -> str:
    if is_traced(value):
        return "a traced value"
    if isinstance(value, (jax.Array, np.ndarray)):
        value = np.asarray(value).tolist()
    return repr(value)


def fail(call: str, name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"`{call}({name}=...)` must be {expected}, got {_show(value)}.")


def _error_if_not(call: str, name: str, array: Array, ok, expected: str) -> Array:
    """The runtime check of a traced value (e.g. a hyperparameter batched by `jax.vmap`)."""
    return eqx.error_if(array, jnp.logical_not(jnp.all(ok(array))), f"`{call}({name}=...)` must be {expected}.")


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
    """A finite float (scalar or array) in the given interval, as a float leaf.

    Concrete values are checked in float64 before they are rounded to the working dtype,
    and must survive that rounding: a value that float32 would turn into 0 or inf is
    rejected with a pointer to `jax_enable_x64`.
    """
    if isinstance(value, bool) or (
        not is_traced(value) and not isinstance(value, (int, float, np.ndarray, jax.Array, np.number, list, tuple))
    ):
        raise fail(call, name, value, "a real number")
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

    if is_traced(value):
        return _error_if_not(call, name, as_float(value), ok, expected)
    try:
        given = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(call, name, value, "a real number") from None
    if not bool(np.all(ok(given))):
        raise fail(call, name, value, expected)
    dtype = float_dtype()
    if np.any(np.abs(given) > np.finfo(dtype).max):
        raise ValueError(
            f"`{call}({name}=...)` is too large to be represented in {dtype} (it would become "
            f"inf), got {_show(value)}; enable `jax_enable_x64` to use it."
        )
    if np.any((given != 0) & (given.astype(dtype) == 0)):
        raise ValueError(
            f"`{call}({name}=...)` is too small to be represented in {dtype} (it would become "
            f"0), got {_show(value)}; enable `jax_enable_x64` to use it."
        )
    return as_float(value)


def integer(call: str, name: str, value: Any, *, low: int = 1) -> Array:
    """An integer count `>= low`, as an int32 leaf (traced values must have an int dtype)."""
    expected = "a positive integer" if low == 1 else f"an integer >= {low}"
    if is_traced(value):
        if not jnp.issubdtype(jnp.result_type(value), jnp.integer):
            raise fail(call, name, value, expected + " (an integer-dtype array when traced)")
        return _error_if_not(call, name, as_int(value), lambda x: x >= low, expected)
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
    """Discover the number of param groups from a per-group argument; returns `(value, n)`.

    A list, tuple or 1-d array gives one value per param group and fixes the count (it
    must agree with `n_groups` if that is already known); a scalar applies to every group.
    """
    if isinstance(value, (list, tuple)) or (isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 1):
        if len(value) == 0:
            raise fail(call, name, value, "a number or a non-empty list of numbers")
        if n_groups is not None and len(value) != n_groups:
            raise ValueError(
                f"`{call}({name}=...)` has {len(value)} values but the scheduler has "
                f"{n_groups} param groups; pass one value per group or a single number."
            )
        return (list(value) if isinstance(value, tuple) else value), len(value)
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) > 1:
        raise fail(call, name, value, "a number or a 1-d sequence of numbers (one per param group)")
    return value, n_groups


def per_group(call: str, name: str, value: Any, n_groups: int | None, **bounds) -> Array:
    """A per-group float hyperparameter, shaped like the lr: `()` for one group, else `(G,)`.

    With a scalar lr (`n_groups=None`) a list must have exactly one value.
    """
    if n_groups is None and (isinstance(value, (list, tuple)) or np.ndim(value) == 1):
        if len(value) != 1:
            raise ValueError(
                f"`{call}({name}=...)` has {len(value)} values but the scheduler has one param "
                "group (its lr is a single number); pass a single number."
            )
        value = value[0]
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
    if callable(value):
        return (value,) * (n_groups or 1)
    if not isinstance(value, (list, tuple)) or len(value) != (n_groups or 1):
        count = len(value) if isinstance(value, (list, tuple)) else "no"
        raise ValueError(
            f"`{call}({name}=...)` must be a callable or a list of one callable per param group "
            f"({n_groups or 1}), got {count} values."
        )
    fns = list(value)
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
