"""The exceptions statefulsched raises where torch raises something other than `ValueError`,
and the runtime checks of the programs an eager call compiles.

Every error of ours is a `ValueError` (or a `TypeError` where a type is wrong). Where torch
raises another class for the same input (a `ZeroDivisionError` for a phase of zero length, a
`TypeError` for a learning-rate function that is not callable), ours derives from both, as
NumPy's `AxisError` is both a `ValueError` and an `IndexError`: code written for torch
(`except ZeroDivisionError`) and code written for us (`except ValueError`) both catch it.

Runtime checks. A check whose outcome depends on array values (a `OneCycleLR` stepped past
its end) is compiled into the programs that run once per call from Python (the eager
`step`, `values`, a `to_schedule` function called eagerly). `eqx.error_if` would do it
with a host callback, which makes XLA print a long traceback before the error reaches
Python; instead each check contributes an `int32` code to the program's outputs (0: all
passed, `k + 1`: registered error `k` failed first), and the caller raises the registered
error in Python: the message is the only thing the user sees.
"""

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Int


class TorchTypeError(ValueError, TypeError):
    """Raised where torch raises a `TypeError`; also a `ValueError`, like every argument error of ours."""


class TorchZeroDivisionError(ValueError, ZeroDivisionError):
    """Raised where torch divides by zero (a `ZeroDivisionError` there); also a `ValueError`."""


_REGISTERED: list[tuple[str, type[Exception]]] = []
_INDEX: dict[str, int] = {}


def runtime_error(message: str, cls: type[Exception] = ValueError) -> str:
    """Register the error (message and class) a runtime check raises; returns the message, for `check`."""
    if message not in _INDEX:
        _INDEX[message] = len(_REGISTERED)
        _REGISTERED.append((message, cls))
    return message


class _Collecting(threading.local):
    codes: list[Array] | None = None


_COLLECTING = _Collecting()


def collecting() -> bool:
    """Whether the computation being traced collects runtime checks (see `checked`)."""
    return _COLLECTING.codes is not None


def check(failed: ArrayLike, message: str) -> None:
    """Fail with the registered error of `message` where `failed` holds, if checks are being collected."""
    if _COLLECTING.codes is not None:
        code = _INDEX[message] + 1
        _COLLECTING.codes.append(jnp.where(jnp.any(failed), code, 0).astype(jnp.int32))


def report(code: Int[ArrayLike, "*batch"]) -> None:
    """Pass on the code of checks collected in an inner trace (a `lax.switch` branch, a scan body)."""
    if _COLLECTING.codes is not None:
        _COLLECTING.codes.append(jnp.max(jnp.asarray(code, jnp.int32)))


@contextlib.contextmanager
def _collect() -> Iterator[list[Array]]:
    previous = _COLLECTING.codes
    _COLLECTING.codes = []
    try:
        yield _COLLECTING.codes
    finally:
        _COLLECTING.codes = previous


def _first_failure(codes: list[Array]) -> Int[Array, ""]:
    code = jnp.zeros((), jnp.int32)
    for other in reversed(codes):
        code = jnp.where(other != 0, other, code)
    return code


def checked(fn: Callable[..., Any]) -> Callable[..., tuple[Any, Int[Array, ""]]]:
    """`fn`, traced with runtime checks on, returning also their code (`0`: none failed)."""

    def with_code(*args: Any, **kwargs: Any) -> tuple[Any, Int[Array, ""]]:
        with _collect() as codes:
            out = fn(*args, **kwargs)
        return out, _first_failure(codes)

    return with_code


def raise_failed(code: Int[ArrayLike, ""]) -> None:
    """Raise the registered error `code` stands for, if any (this waits for the program to finish)."""
    index = int(np.asarray(code))  # (`int` of a JAX array takes several times longer)
    if index:
        message, cls = _REGISTERED[index - 1]
        raise cls(message)
