"""Constructor steps shared by several schedulers."""

from typing import Any

from jaxtyping import Array

from .._validation import base_lr, deprecated_verbose, groups, no_resume, per_group


def start(call: str, lr: Any, last_epoch: Any, verbose: Any) -> tuple[Array, int | None]:
    """Check the torch-compatibility arguments; return the base lr leaf and group count."""
    no_resume(call, last_epoch)
    deprecated_verbose(call, verbose)
    return base_lr(call, lr)


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
    bounds = dict(low=0.0, high=1.0)
    return (
        n_groups,
        per_group(call, "base_momentum", base_momentum, n_groups, **bounds),
        per_group(call, "max_momentum", max_momentum, n_groups, **bounds),
    )
