"""Constructor steps shared by several schedulers."""

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._numerics import as_int, log_of
from .._validation import base_lr, deprecated_verbose, groups, is_traced, per_group, real, resume_epoch, warn


def start(call: str, lr: Any, last_epoch: Any, verbose: Any) -> tuple[Array, int | None, int | None]:
    """Check the torch-compatibility arguments; return the base lr leaf, the group count and the
    epoch `k` the scheduler resumes after (`last_epoch=k`; `None` for a fresh one)."""
    resume = resume_epoch(call, last_epoch)
    deprecated_verbose(call, verbose)
    return (*base_lr(call, lr), resume)


def first_epoch(resume: int | None) -> Array:
    """`last_epoch` after construction: 0, or `k + 1` for `last_epoch=k` (torch's constructor steps once)."""
    return as_int(0 if resume is None else resume + 1)


def origin(epoch: int | None) -> Array | None:
    """The step a resumed scheduler's factor counts from, as a leaf (`None`: a fresh scheduler)."""
    return None if epoch is None else as_int(epoch)


def resumed(factor_at: Callable[[Array], Array], t: Array, origin: Array | None) -> Array:
    """The cumulative factor at step `t`, counted from step `origin` for a resumed scheduler.

    A scheduler built with `last_epoch=k` starts from the given lr and then applies torch's
    per-step multipliers, whose product from `origin` to `t` is `factor(t) / factor(origin)`.
    Where `factor(origin)` is 0 (a ramp that ended at 0) every later multiplier is 1.
    """
    if origin is None:
        return factor_at(t)
    start = factor_at(origin)
    zero = start == 0
    return jnp.where(zero, jnp.ones_like(start), factor_at(t) / jnp.where(zero, 1, start))


def is_zero(total_iters: Any) -> bool:
    """Whether a concrete `total_iters` is exactly 0 (see `ConstantLR.idle`)."""
    return (
        not is_traced(total_iters)
        and not isinstance(total_iters, (bool, str))
        and np.ndim(total_iters) == 0
        and (float(np.asarray(total_iters, np.float64)) == 0)
    )


def decay_factor(call: str, name: str, gamma: Any) -> tuple[Array, Array]:
    """A multiplicative decay `gamma` and its logarithm (taken in float64 when concrete).

    torch accepts any number. A negative one alternates the lr's sign and is refused; `0` (the
    lr drops to 0 at the first decay and stays there) is accepted with a warning.
    """
    leaf = real(call, name, gamma, low=0.0)
    if not is_traced(gamma) and not bool((np.asarray(gamma, np.float64) != 0).all()):
        warn(call, name, gamma, "the learning rate becomes 0 at the first decay and stays 0.")
    return leaf, log_of(leaf if is_traced(gamma) else gamma)


def cycled_groups(
    call: str, lrs: dict[str, Any], cycle_momentum: bool, base_momentum: Any, max_momentum: Any
) -> tuple[int | None, Array | None, Array | None]:
    """Group count and momentum bounds of `CyclicLR`/`OneCycleLR`, which take no `lr`.

    The number of param groups comes from whichever per-group argument is a list (they
    must agree); the momentum bounds are `None` when momentum is not cycled.
    """
    named = dict(lrs)
    if cycle_momentum:
        named.update(base_momentum=base_momentum, max_momentum=max_momentum)
    n_groups = None
    for name, value in named.items():
        _, n_groups = groups(call, name, value, n_groups)
    if not cycle_momentum:
        return n_groups, None, None
    bounds = []
    for name, value in (("base_momentum", base_momentum), ("max_momentum", max_momentum)):
        # torch takes any momentum bounds (its own tests cycle between 1 and 5); outside [0, 1]
        # SGD's momentum or Adam's beta1 diverges, so that warns.
        bounds.append(per_group(call, name, value, n_groups))
        if not is_traced(value) and not bool(((np.asarray(value) >= 0) & (np.asarray(value) <= 1)).all()):
            warn(
                call,
                name,
                value,
                "a momentum (SGD's `momentum`, Adam's `beta1`) outside [0, 1] makes training diverge.",
            )
    return n_groups, bounds[0], bounds[1]
