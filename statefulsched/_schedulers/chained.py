"""`ChainedScheduler`: step several schedulers together on one learning rate."""

from collections.abc import Sequence
from typing import Any, ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._base import AbstractMultiplicativeScheduler, AbstractScheduler, _Composite, replace
from .._numerics import as_int
from .._validation import deprecated_verbose
from ._children import check_children


class ChainedScheduler(_Composite):
    r"""Step every scheduler in `schedulers` on each `step`, each acting on the lr the previous left.

    This is torch's semantics: each scheduler applies its *chainable* update (a ratio or
    an increment) to the shared lr, in order. When every child is multiplicative
    (`StepLR`, `MultiStepLR`, `ConstantLR`, `LinearLR`, `ExponentialLR`,
    `PolynomialLR`) the result is `lr * prod(factors)`, computed in closed form so
    long runs do not drift. Other children are replayed through torch's recurrences, with
    torch's quirks: `LambdaLR`, `CosineAnnealingWarmRestarts`, `CyclicLR` and `OneCycleLR`
    overwrite whatever the earlier children did, and a chained `CosineAnnealingLR`,
    one step past each minimum, adds a fixed increment that ignores the other factors.

    **Arguments:**

    - `schedulers`: a non-empty list of schedulers built with the same `lr`, in the order
        torch would have constructed and stepped them.
    - `optimizer`: accepted and ignored, as in torch's signature (the children hold the lr).
    - `verbose`: accepted for compatibility with torch.

    **Differences from torch:** `ReduceLROnPlateau` children are accepted (e.g. a cosine
    schedule times a plateau reduction): the metric given to `step` is forwarded.
    """

    schedulers: tuple[AbstractScheduler, ...]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "schedulers")
    _takes_lr: ClassVar[bool] = False

    def __init__(self, schedulers: Sequence[AbstractScheduler], optimizer: Any = None, verbose="deprecated"):
        del optimizer  # torch's signature; the children hold the lr
        deprecated_verbose("ChainedScheduler", verbose)
        self.schedulers = check_children("ChainedScheduler", schedulers)
        self.last_epoch = as_int(0)
        first = self.schedulers[0]
        lr = first.base_lr if first._takes_lr else first.lr
        self.lr = ChainedScheduler._chain_init(self, lr)

    @property
    def _multiplicative(self) -> bool:
        return all(isinstance(child, AbstractMultiplicativeScheduler) for child in self.schedulers)

    def _advance(self, metric: Any) -> "ChainedScheduler":
        if not self._multiplicative:
            return self._chain(self.lr, metric)[0]
        children = tuple(child._advance(metric) for child in self.schedulers)
        return replace(self, last_epoch=self.last_epoch + 1, lr=_product_lr(children), schedulers=children)

    def _has_closed_form(self) -> bool:
        return self._multiplicative

    def _jump(self, steps: Int[Array, ""]) -> "ChainedScheduler":
        # Only with multiplicative children: each jumps on its own.
        children = tuple(child._jump(steps) for child in self.schedulers)
        return replace(self, last_epoch=self.last_epoch + steps, lr=_product_lr(children), schedulers=children)

    def _chain_init(self, lr: Array) -> Array:
        for child in self.schedulers:
            lr = child._chain_init(lr)
        return lr

    def _chain(self, lr: Array, metric: Any) -> tuple["ChainedScheduler", Array]:
        children = []
        for child in self.schedulers:
            child, lr = child._chain(lr, metric)
            children.append(child)
        lr = lr.astype(self.lr.dtype)
        return replace(self, last_epoch=self.last_epoch + 1, lr=lr, schedulers=tuple(children)), lr


def _product_lr(children: Sequence[AbstractMultiplicativeScheduler]) -> Float[Array, "*groups"]:
    """The lr of a chain of multiplicative schedulers: the first one's `base_lr` times the
    product of their factors, in closed form so long runs do not drift."""
    factor = jnp.prod(jnp.stack([child._factor() for child in children]))
    base_lr = children[0].base_lr
    return (base_lr * factor).astype(base_lr.dtype)
