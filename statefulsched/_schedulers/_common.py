"""Constructor boilerplate shared by the schedulers that take the optimizer's `lr`."""

from typing import Any

from jaxtyping import Array

from .._validation import base_lr, deprecated_verbose, no_resume


def start(call: str, lr: Any, last_epoch: Any, verbose: Any) -> tuple[Array, int | None]:
    """Check the torch-compatibility arguments; return the base lr leaf and group count."""
    no_resume(call, last_epoch)
    deprecated_verbose(call, verbose)
    return base_lr(call, lr)
