"""`from_torch` and `to_torch`: move a running schedule between torch and statefulsched in one line.

Both go through the state dict (`_state_dict.py`), which is exact both ways; what a torch
scheduler keeps in its optimizer (`OneCycleLR`'s `max_lr`, `SWALR`'s `swa_lr`, a plateau's
initial lr) is read from or written to the optimizer's param groups. torch is imported only
when these are called.
"""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ._base import AbstractScheduler
from ._schedulers.chained import ChainedScheduler
from ._schedulers.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from ._schedulers.cyclic import CyclicLR
from ._schedulers.exponential import ExponentialLR, PolynomialLR
from ._schedulers.lambda_ import LambdaLR, MultiplicativeLR
from ._schedulers.onecycle import OneCycleLR
from ._schedulers.plateau import ReduceLROnPlateau
from ._schedulers.sequential import SequentialLR
from ._schedulers.step import MultiStepLR, StepLR
from ._schedulers.swa import SWALR
from ._schedulers.warmup import ConstantLR, LinearLR
from ._state_dict import _TORCH, arguments

_CLASSES: dict[str, type[AbstractScheduler]] = {
    cls.__name__: cls
    for cls in (
        LambdaLR,
        MultiplicativeLR,
        StepLR,
        MultiStepLR,
        ConstantLR,
        LinearLR,
        ExponentialLR,
        PolynomialLR,
        CosineAnnealingLR,
        CosineAnnealingWarmRestarts,
        CyclicLR,
        OneCycleLR,
        ReduceLROnPlateau,
        SWALR,
        SequentialLR,
        ChainedScheduler,
    )
}
_COMPOSITES = (SequentialLR, ChainedScheduler)


def _torch_class(scheduler: Any) -> type[AbstractScheduler]:
    for base in type(scheduler).__mro__:
        if base.__module__.startswith("torch.optim") and base.__name__ in _CLASSES:
            return _CLASSES[base.__name__]
    raise TypeError(
        f"`statefulsched.from_torch` takes a scheduler of `torch.optim.lr_scheduler` (or `swa_utils.SWALR`), "
        f"got {type(scheduler).__module__}.{type(scheduler).__name__}."
    )


def _traceable(fn: Callable, name: str, owner: str) -> Callable:
    """`fn` itself, once it is known to trace with a JAX integer step count (ours are traced)."""
    count = jax.ShapeDtypeStruct((), jax.dtypes.canonicalize_dtype(np.int64))
    try:
        jax.eval_shape(fn, count)
    except Exception as e:  # any failure to trace is the same problem for the user
        raise TypeError(
            f"`statefulsched.from_torch`: the `{name}` of the torch `{owner}` cannot be traced by JAX, which "
            "statefulsched's schedulers need (it is compiled into their step): write it with `jax.numpy` "
            f"(`jnp.minimum`, `jnp.where`) instead of Python's `min`/`if`/`math`, and build the statefulsched "
            f"scheduler with it. Tracing it failed with: {type(e).__name__}: {str(e).splitlines()[0]}"
        ) from None
    return fn


def _groups(optimizer: Any, key: str) -> list[Any] | None:
    values = [group.get(key) for group in optimizer.param_groups]
    return None if any(v is None for v in values) else [float(v) for v in values]


def _one(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values


def _hidden(cls: type, scheduler: Any) -> dict[str, Any]:
    """The configuration torch keeps in the optimizer's param groups, as our dicts' `config` entry."""
    optimizer = scheduler.optimizer
    if cls is OneCycleLR:
        keys = ("max_lr", "min_lr", "base_momentum", "max_momentum")
    elif cls is SWALR:
        keys = ("swa_lr",)
    else:
        keys = ()
    hidden = {key: values for key in keys if (values := _groups(optimizer, key)) is not None}
    if cls is ReduceLROnPlateau:
        hidden["lr"] = _groups(optimizer, "initial_lr") or _groups(optimizer, "lr")
    return hidden


def _fresh(scheduler: Any) -> AbstractScheduler:
    """Ours, built (fresh) with the configuration of the torch `scheduler`."""
    cls = _torch_class(scheduler)
    if cls in _COMPOSITES:
        children = [_fresh(child) for child in scheduler._schedulers]
        if cls is SequentialLR:
            return SequentialLR(children, milestones=list(scheduler._milestones))
        return ChainedScheduler(children)
    entry = _TORCH[cls]
    kwargs = entry.from_dict_of(scheduler.state_dict(), _hidden(cls, scheduler))
    if cls in (LambdaLR, MultiplicativeLR):
        fns = [_traceable(fn, "lr_lambda", cls.__name__) for fn in scheduler.lr_lambdas]
        kwargs["lr_lambda"] = fns[0] if len(set(map(id, fns))) == 1 else fns
    elif cls is CyclicLR:
        custom = scheduler._scale_fn_custom
        kwargs["scale_fn"] = None if custom is None else _traceable(custom, "scale_fn", "CyclicLR")
    if cls not in (CyclicLR, OneCycleLR) and "lr" not in kwargs:
        kwargs["lr"] = _one(_groups(scheduler.optimizer, "initial_lr") or _groups(scheduler.optimizer, "lr"))
    return cls(**kwargs)


def from_torch(scheduler: Any) -> AbstractScheduler:
    """The statefulsched scheduler equivalent to a live torch scheduler: its configuration and its
    current state, so a running PyTorch job can be moved in one line.

    ```python
    sched = ss.from_torch(torch_scheduler)  # e.g. after loading a torch checkpoint
    ```

    Every class of `torch.optim.lr_scheduler` and `torch.optim.swa_utils.SWALR` is supported,
    composites included (their children are converted too). The configuration comes from the
    scheduler and, where torch keeps it there, from its optimizer's param groups (`OneCycleLR`'s
    `max_lr`, `SWALR`'s `swa_lr`); the state from its `state_dict()`, checked as
    `load_state_dict` checks it (the lr it implies must be torch's own).

    **Raises** `TypeError` for something that is not a torch scheduler, and for a `lr_lambda` or
    `scale_fn` JAX cannot trace (statefulsched compiles it into the step: write it with
    `jax.numpy`, e.g. `jnp.minimum` rather than `min`); `ValueError` where its state does not load.
    """
    sched = _fresh(scheduler)
    return sched.load_state_dict(scheduler.state_dict())


def _as_float_function(fn: Callable) -> Callable:
    """A `jax.numpy` function of the step count, returning Python floats for torch."""
    return lambda epoch: float(fn(epoch))


def _build_torch(sched: AbstractScheduler, optimizer: Any) -> Any:
    from torch.optim import lr_scheduler, swa_utils

    cls = type(sched)
    kwargs = arguments(sched)
    if cls in _COMPOSITES:
        children = [_build_torch(child, optimizer) for child in sched.schedulers]
        if cls is SequentialLR:
            return lr_scheduler.SequentialLR(optimizer, children, milestones=kwargs["milestones"])
        return lr_scheduler.ChainedScheduler(children, optimizer=optimizer)
    lr = kwargs.pop("lr", None)
    if lr is not None:
        lrs = lr if isinstance(lr, list) else [lr] * len(optimizer.param_groups)
        for group, value in zip(optimizer.param_groups, lrs):
            group["lr"] = group["initial_lr"] = value
    if cls in (LambdaLR, MultiplicativeLR):
        fns = sched.lr_lambda
        kwargs["lr_lambda"] = [_as_float_function(fn) for fn in fns]
    elif cls is CyclicLR and kwargs["scale_fn"] is not None:
        kwargs["scale_fn"] = _as_float_function(kwargs["scale_fn"])
    if cls is SWALR:
        return swa_utils.SWALR(optimizer, **kwargs)
    return getattr(lr_scheduler, cls.__name__)(optimizer, **kwargs)


def _write_groups(sched: AbstractScheduler, optimizer: Any) -> None:
    """Write what torch keeps in the param groups: the lr, a cycled momentum, hidden settings."""
    if isinstance(sched, _COMPOSITES):
        for child in sched.schedulers:
            _write_groups(child, optimizer)
        values = {"lr": sched.lr}
    else:
        values = {"lr": sched.lr}
        if isinstance(sched, OneCycleLR):
            values.update(initial_lr=sched.initial_lr, max_lr=sched.max_lr, min_lr=sched.min_lr)
        if isinstance(sched, SWALR):
            values["swa_lr"] = sched.swa_lr
        if getattr(sched, "momentum", None) is not None:
            values.update(base_momentum=sched.base_momentum, max_momentum=sched.max_momentum)
    for key, leaf in values.items():
        write_groups(optimizer, key, leaf)
    momentum = getattr(sched, "momentum", None)
    if momentum is not None:
        write_groups(optimizer, "momentum", momentum)


def write_groups(optimizer: Any, key: str, leaf: Any) -> None:
    """Write a per-group value (a scalar for every group, or one each) into a torch optimizer's
    param groups; a `"momentum"` goes to Adam's `betas[0]` where the group has `betas`."""
    groups = optimizer.param_groups
    for group, value in zip(groups, np.broadcast_to(np.asarray(leaf, np.float64), (len(groups),))):
        if key == "momentum" and "betas" in group:
            group["betas"] = (float(value), *group["betas"][1:])
        else:
            group[key] = float(value)


def to_torch(sched: AbstractScheduler, optimizer: Any) -> Any:
    """The torch scheduler equivalent to `sched`, on `optimizer`, in `sched`'s current state.

    The way back from [`from_torch`][]: the torch scheduler is built with `sched`'s
    configuration, loads `sched.state_dict()`, and the optimizer's param groups get the lr (and
    a cycled momentum, and the settings torch keeps there), so the next `optimizer.step()` uses
    `sched`'s lr and the torch scheduler goes on from there.

    **Arguments:**

    - `sched`: a statefulsched scheduler with a torch equivalent (every class of
        `torch.optim.lr_scheduler`, and `SWALR`), not a batch built with `jax.vmap`.
    - `optimizer`: a torch optimizer with one param group per param group of `sched`.

    `LambdaLR`/`MultiplicativeLR`/`CyclicLR(scale_fn=...)` functions are handed to torch wrapped
    to return Python floats.
    """
    if not isinstance(sched, AbstractScheduler) or type(sched).__name__ not in _CLASSES:
        raise TypeError(
            f"`statefulsched.to_torch` takes a statefulsched scheduler with a torch equivalent, got "
            f"{type(sched).__name__}."
        )
    n = 1 if np.ndim(sched.lr) == 0 else int(np.shape(sched.lr)[0])
    if len(optimizer.param_groups) != n:
        raise ValueError(
            f"`statefulsched.to_torch`: the scheduler has {n} param group(s) but the optimizer "
            f"{len(optimizer.param_groups)}; give the optimizer one param group per lr."
        )
    state = sched.state_dict()  # before building: it refuses batches and traced schedulers
    torch_sched = _build_torch(sched, optimizer)
    torch_sched.load_state_dict(state)
    _write_groups(sched, optimizer)
    torch_sched._last_lr = [group["lr"] for group in optimizer.param_groups]
    return torch_sched
