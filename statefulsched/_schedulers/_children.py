"""Validation of the child schedulers of `SequentialLR` and `ChainedScheduler`."""

from collections.abc import Sequence

import numpy as np

from .._base import AbstractScheduler
from .._errors import TorchTypeError
from .._validation import is_traced


def check_children(call: str, schedulers: Sequence[AbstractScheduler]) -> tuple[AbstractScheduler, ...]:
    """The child schedulers of a composite: a non-empty list (`ValueError`, as torch) of
    statefulsched schedulers (`TypeError`, as torch), built on one lr."""
    if isinstance(schedulers, AbstractScheduler) or not isinstance(schedulers, (list, tuple)):
        raise TorchTypeError(f"`{call}(schedulers=...)` must be a list of schedulers, got {schedulers!r}.")
    if len(schedulers) == 0:
        raise ValueError(f"`{call}(schedulers=...)` must hold at least one scheduler, got {schedulers!r}.")
    for i, child in enumerate(schedulers):
        if not isinstance(child, AbstractScheduler):
            raise TorchTypeError(
                f"`{call}(schedulers=...)` must contain statefulsched schedulers; item {i} is {type(child).__name__}."
            )
    shapes = {child.lr.shape for child in schedulers}
    if len(shapes) != 1:
        raise ValueError(
            f"`{call}(schedulers=...)`: the schedulers have different numbers of param groups "
            f"(lr shapes {sorted(shapes)}); build them all with the same lr."
        )

    def show(lr) -> list[float]:
        return [float(f"{v:.7g}") for v in np.atleast_1d(np.asarray(lr)).tolist()]

    with_lr = [child for child in schedulers if child._takes_lr]
    if len(with_lr) > 1 and not any(is_traced(child.base_lr) for child in with_lr):
        first = np.asarray(with_lr[0].base_lr)
        for child in with_lr[1:]:
            if not np.array_equal(np.asarray(child.base_lr), first):
                raise ValueError(
                    f"`{call}(schedulers=...)`: the schedulers were built with different learning "
                    f"rates ({show(first)} for {type(with_lr[0]).__name__}, "
                    f"{show(child.base_lr)} for {type(child).__name__}); in torch they "
                    "all act on one optimizer, so build them all with the same lr."
                )
    return tuple(schedulers)
