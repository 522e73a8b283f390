"""`SequentialLR`: hand over from one scheduler to the next at milestones."""

from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractScheduler, _Composite, replace, runtime_checks_on
from .._numerics import as_int
from .._validation import deprecated_verbose, fail, no_resume
from ._children import check_children
from .step import milestone_array


def _where(pred: Array, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def select(index: Int[Array, ""], options: Sequence[Any]) -> Any:
    """`options[index]` (pytrees of one structure), by a chain of selects rather than a
    gather, which is slow under `vmap`; an `index` past the end selects the last option."""
    chosen = options[-1]
    for i in reversed(range(len(options) - 1)):
        chosen = _where(index == i, options[i], chosen)
    return chosen


def active_lr(children: Sequence[AbstractScheduler], index: Int[Array, ""]) -> Array:
    """The `lr` field of `children[index]`."""
    return select(index, [child.lr for child in children])


class SequentialLR(_Composite):
    r"""Run `schedulers[0]` until `milestones[0]`, then `schedulers[1]`, and so on.

    Replicates torch step for step, including at the milestones: there the next scheduler
    does not take a step but restarts from its value at step 0 (torch calls its
    `step(0)`), so with `LinearLR(total_iters=5)` and a milestone at 5 the warm-up's last
    value (`lr * end_factor`) is never reached; the next scheduler's initial lr is used
    at step 5 instead. `MultiplicativeLR` and `SWALR` carry on from the lr the previous
    scheduler reached, as in torch.

    **Arguments:**

    - `schedulers`: a non-empty list of schedulers built with the same `lr`.
    - `milestones`: strictly increasing integers `>= 0`, one fewer than `schedulers`.
    - `last_epoch`, `verbose`: accepted for compatibility with torch.

    **Differences from torch:** `ReduceLROnPlateau` children are accepted: the metric
    given to `step` is forwarded (and is then required on every step).
    """

    schedulers: tuple[AbstractScheduler, ...]
    milestones: Int[Array, " milestones"]
    last_epoch: Int[Array, ""]
    lr: Float[Array, "*groups"]

    _state_fields: ClassVar[tuple[str, ...]] = ("last_epoch", "lr", "schedulers")
    _takes_lr: ClassVar[bool] = False

    def __init__(
        self,
        schedulers: Sequence[AbstractScheduler],
        milestones: Sequence[int] | ArrayLike,
        last_epoch: int = -1,
        verbose="deprecated",
    ):
        call = "SequentialLR"
        no_resume(call, last_epoch)
        deprecated_verbose(call, verbose)
        self.schedulers = check_children(call, schedulers)
        if len(self.schedulers) == 1 and len(milestones) == 0:
            self.milestones = as_int(jnp.zeros((0,)))
        else:
            self.milestones = milestone_array(call, milestones, strict=True)
        if self.milestones.shape[0] != len(self.schedulers) - 1:
            raise fail(call, "milestones", milestones, f"one fewer than the {len(self.schedulers)} schedulers")
        self.last_epoch = as_int(0)
        first = jnp.sum(self.milestones <= 0)
        self.lr = jnp.stack([child.lr for child in self.schedulers])[first]

    def _move(self, lr: Array, metric: Any, standalone: bool) -> tuple["SequentialLR", Array]:
        t = self.last_epoch + 1
        index = jnp.sum(self.milestones <= t)
        # `milestones[index - 1] == t` (`False` at `index == 0`), without a gather, which is
        # slow under `vmap`.
        last_passed = jnp.arange(self.milestones.shape[0]) == index - 1
        at_milestone = jnp.any(last_passed & (self.milestones == t))

        def branch(i: int):
            def run(children):
                """The children after step `t` if child `i` is the active one (only it changes)."""
                child = children[i]
                if child._continues_shared_lr:
                    entered = child._enter(lr)
                    stepped = child._chain(lr, metric)
                else:
                    entered = (child, child.lr)
                    if standalone:
                        new = child._advance(metric)
                        stepped = (new, new.lr)
                    else:
                        stepped = child._chain(lr, metric)
                new_child, new_lr = _where(at_milestone, entered, stepped)
                children = children[:i] + (new_child,) + children[i + 1 :]
                return children if standalone else (children, new_lr)

            return run

        branches = [branch(i) for i in range(len(self.schedulers))]
        if runtime_checks_on() or len(branches) == 1:
            # Only the active child is stepped: a child's runtime check (e.g. `OneCycleLR`
            # past its end) must not fire for a child that is no longer active.
            out = lax.switch(index, branches, self.schedulers)
        else:
            # Traced into a larger program: step every child and keep the active one's new
            # state. A conditional costs more than the few scalar operations of its branches
            # (about 25 ns per `lax.scan` iteration on CPU); under `vmap` a switch runs every
            # branch anyway.
            out = select(index, [run(self.schedulers) for run in branches])
        if standalone:
            # Stepped on its own, the active child's new `lr` field is the lr handed on. Reading
            # it back, rather than returning the lr from every branch as well, lets XLA compute
            # each child's lr once under `vmap`, where every branch runs (it halved the time
            # of a vmapped `SequentialLR` of two `LinearLR`s).
            children = out
            new_lr = active_lr(children, index)
        else:
            children, new_lr = out
        new_lr = new_lr.astype(self.lr.dtype)
        return replace(self, last_epoch=t, lr=new_lr, schedulers=children), new_lr

    def _advance(self, metric: Any) -> "SequentialLR":
        return self._move(self.lr, metric, standalone=True)[0]

    def _has_closed_form(self) -> bool:
        # Each child is stepped only while it is the active one, unless it carries on from
        # the lr its predecessor reached.
        return all(c._has_closed_form() and not type(c)._continues_shared_lr for c in self.schedulers)

    def _jump(self, steps: Int[Array, ""]) -> "SequentialLR":
        """Child `j` takes a step at every step `s` with `milestones[j - 1] < s < milestones[j]`
        (it is entered, not stepped, at `s == milestones[j - 1]`, and `milestones[-1]` is 0),
        so from step `t` to `t + steps` it takes as many steps as that interval has in
        `(t, t + steps]`. Each child jumps by its own count (a child that takes none keeps its
        state, as stepping leaves it); the lr is that of the child active at the end.
        """
        t = self.last_epoch
        target = t + steps
        bounds = jnp.concatenate([jnp.zeros((1,), t.dtype), self.milestones.astype(t.dtype)])
        children = []
        for j, child in enumerate(self.schedulers):
            last = target if j == len(self.schedulers) - 1 else bounds[j + 1] - 1
            taken = jnp.maximum(jnp.minimum(target, last) - jnp.maximum(t, bounds[j]), 0)
            children.append(_where(taken == 0, child, child._jump(taken)))
        lr = active_lr(children, jnp.sum(self.milestones <= target))
        return replace(self, last_epoch=target, lr=lr.astype(self.lr.dtype), schedulers=tuple(children))

    def _chain_init(self, lr: Array) -> Array:
        del lr
        return self.lr

    def _chain(self, lr: Array, metric: Any) -> tuple["SequentialLR", Array]:
        return self._move(lr, metric, standalone=False)
