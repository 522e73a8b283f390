"""Argument checking shared by the scheduler constructors.

Two layers, as in the style guide: structural mistakes (unknown mode strings, wrong group
counts) raise `ValueError` at construction; value constraints are checked in Python when
the value is concrete and through `eqx.error_if` when it is traced (e.g. when schedulers are
built under `jax.vmap`), so construction never breaks on tracers.

What is refused follows one policy (README, "Differences from torch"): every configuration
torch accepts and computes finite numbers for is accepted, with torch's numbers; where such a
value is almost certainly a mistake, a `UserWarning` names the argument (`warn`); refused is
what torch refuses (with torch's exception class: see `_errors.py`) and what would give a
non-finite, negative or meaningless lr.
"""

import math
import operator
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._errors import TorchTypeError, TorchZeroDivisionError
from ._numerics import INT32_MAX, as_float, as_int, float_dtype

# Frames inside these packages are skipped when a warning points at the user's line.
_INSIDE = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(eqx.__file__)))


def user_stacklevel() -> int:
    """The `stacklevel` for `warnings.warn` that points at the first frame outside statefulsched
    (and Equinox, whose module machinery calls our constructors)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level


def warn(call: str, name: str, value: Any, why: str) -> None:
    """Accept a value torch accepts but that is almost certainly a mistake: say so, naming it."""
    warnings.warn(f"`{call}({name}={_show(value)})`: {why}", UserWarning, stacklevel=user_stacklevel())


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


def steps(call: str, name: str, value: Any, *, fraction: bool = True, divisor: bool = False) -> int | float:
    """A concrete number of steps torch accepts: finite and `>= 0`, integral or (with `fraction`) not.

    Returns a Python `int` for an integral value (`10`, `10.0`, `np.int64(10)`), else a `float`.
    Negative counts are refused (torch computes with some, to no purpose); so are counts that
    int32 cannot hold. A `divisor` (a period torch divides by) must be positive: `0` is torch's
    `ZeroDivisionError`.
    """
    kind = "a number of steps" if fraction else "a whole number of steps"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
        raise fail(call, name, value, f"{kind} >= 0")
    if np.ndim(value) != 0 or not np.issubdtype(np.asarray(value).dtype, np.number):
        raise fail(call, name, value, f"{kind} >= 0 (a single number)")
    number = float(np.asarray(value, np.float64)) if not isinstance(value, (int, np.integer)) else int(value)
    if not math.isfinite(number) or number < 0:
        raise fail(call, name, value, f"a finite {kind[2:]} >= 0")
    if number > INT32_MAX:
        raise fail(call, name, value, f"at most 2**31 - 1 = {INT32_MAX} (step counts are int32)")
    if divisor and number == 0:
        raise TorchZeroDivisionError(
            f"`{call}({name}=...)` must be a positive number of steps, got {value!r} (torch divides by it)."
        )
    if float(number).is_integer():
        return int(number)
    if not fraction:
        raise fail(call, name, value, f"{kind} >= 0")
    return float(number)


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
    """One function per param group: `value` itself, or a list or tuple of one per group.

    As torch: a list of the wrong length is a `ValueError`, something not callable a
    `TypeError` (ours is both, see `_errors.py`).
    """
    if not isinstance(value, (list, tuple)):
        if not callable(value):
            raise TorchTypeError(
                f"`{call}({name}=...)` must be a function of the step count (or a list of one per param group), "
                f"got {type(value).__name__} {_show(value)}."
            )
        return (value,) * (n_groups or 1)
    if len(value) != (n_groups or 1):
        raise ValueError(
            f"`{call}({name}=...)` must be a function or a list of one function per param group "
            f"({n_groups or 1}), got a list of {len(value)}."
        )
    for i, fn in enumerate(value):
        if not callable(fn):
            raise TorchTypeError(
                f"`{call}({name}=...)` must hold functions of the step count; item {i} is "
                f"{type(fn).__name__} {_show(fn)}."
            )
    return tuple(value)


def resume_epoch(call: str, last_epoch: Any) -> int | None:
    """torch's `last_epoch`: `-1` builds a fresh scheduler (returns `None`); `k >= 0` one that resumes
    after epoch `k` (returns `k`), as torch's constructor does (see each class)."""
    if isinstance(last_epoch, (bool, np.bool_)) or not isinstance(last_epoch, (int, np.integer)):
        raise fail(call, "last_epoch", last_epoch, "an integer >= -1 (-1: start from the beginning)")
    if not -1 <= int(last_epoch) <= INT32_MAX - 2:
        raise fail(
            call, "last_epoch", last_epoch, f"an integer in [-1, {INT32_MAX - 2}] (-1: start from the beginning)"
        )
    return None if int(last_epoch) == -1 else int(last_epoch)


_VERBOSE_UNSET = "deprecated"


def deprecated_verbose(call: str, verbose: Any) -> None:
    if verbose is not _VERBOSE_UNSET and verbose != _VERBOSE_UNSET:
        warnings.warn(
            f"`{call}(verbose=...)` is deprecated and ignored (PyTorch removed it); "
            "print `scheduler.get_last_lr()` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
