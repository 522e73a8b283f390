"""`SequentialLR`: hand over from one scheduler to the next at milestones."""

from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._base import AbstractScheduler, _Composite, replace
from .._errors import TorchZeroDivisionError, checked, collecting, report
from .._numerics import INT32_MAX, as_int
from .._validation import deprecated_verbose, fail, integer, is_traced, resume_epoch, warn
from ._children import check_children
from .step import milestone_values


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

    - `schedulers`: a non-empty list of schedulers built with the same `lr`, fresh (built
        with `last_epoch=-1` and not stepped).
    - `milestones`: whole step counts, one fewer than `schedulers`. As in torch, they are
        looked up by bisection (`bisect_right`): a repeated milestone skips the scheduler
        between, a negative one is passed from the start, and unsorted ones are looked up as
        torch looks them up; each of these warns.
    - `last_epoch`: `-1` only (see below).
    - `verbose`: accepted and ignored, with a `DeprecationWarning`.

    **Differences from torch:** `ReduceLROnPlateau` children are accepted: the metric
    given to `step` is forwarded (and is then required on every step). torch's
    `last_epoch=k` (and children built with it) restarts the child schedulers from their
    first step at whatever milestone comes next rather than resuming them, so it is refused:
    resume a `SequentialLR` with `load_state_dict` or `statefulsched.load`. Fractional
    milestones (torch then steps the next scheduler instead of restarting it) are refused.
    """

    schedulers: tuple[AbstractScheduler, ...]
    milestones: Int[Array, " milestones"]
    # Whether the milestones are in order, so that `bisect_right` is a count (else replayed).
    ordered: bool = eqx.field(static=True, repr=False)
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
        if resume_epoch(call, last_epoch) is not None:
            raise fail(
                call,
                "last_epoch",
                last_epoch,
                "-1: torch's SequentialLR(last_epoch=k) restarts its schedulers instead of resuming them; "
                "resume with `load_state_dict` or `statefulsched.load`",
            )
        deprecated_verbose(call, verbose)
        self.schedulers = check_children(call, schedulers)
        for i, child in enumerate(self.schedulers):
            if not is_traced(child.last_epoch) and bool(np.any(np.asarray(child.last_epoch) != 0)):
                raise ValueError(
                    f"`{call}(schedulers=...)`: item {i} (`{type(child).__name__}`) is at step "
                    f"{np.asarray(child.last_epoch).tolist()}, not 0: build the schedulers fresh (`last_epoch=-1`) and "
                    "do not step them before. (torch undoes one step of each and restarts them at their milestones.)"
                )
        self.milestones, self.ordered = _milestones(call, milestones, len(self.schedulers))
        self.last_epoch = as_int(0)
        first = self._index(self.last_epoch)
        if not is_traced(first):
            for i, child in enumerate(self.schedulers):
                if i != int(first):
                    _check_entered(call, i, child)
        self.lr = jnp.stack([child.lr for child in self.schedulers])[first]

    def _index(self, t: Int[Array, ""]) -> Int[Array, ""]:
        """torch's `bisect_right(milestones, t)`: which scheduler is active at step `t`."""
        if self.ordered:
            return jnp.sum(self.milestones <= t)
        return bisect_right(self.milestones, t)

    def _move(self, lr: Array, metric: Any, standalone: bool) -> tuple["SequentialLR", Array]:
        t = self.last_epoch + 1
        index = self._index(t)
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
        if collecting():
            # Only the active child is stepped: a child's runtime check (e.g. `OneCycleLR`
            # past its end) must not fire for a child that is no longer active.
            out, code = lax.switch(index, [checked(run) for run in branches], self.schedulers)
            report(code)
        elif len(branches) == 1:
            out = branches[0](self.schedulers)
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
        # the lr its predecessor reached; with milestones out of order, who is active when is
        # torch's bisection, not intervals.
        return self.ordered and all(c._has_closed_form() and not type(c)._continues_shared_lr for c in self.schedulers)

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
        lr = active_lr(children, self._index(target))
        return replace(self, last_epoch=target, lr=lr.astype(self.lr.dtype), schedulers=tuple(children))

    def _chain_init(self, lr: Array) -> Array:
        del lr
        return self.lr

    def _chain(self, lr: Array, metric: Any) -> tuple["SequentialLR", Array]:
        return self._move(lr, metric, standalone=False)


def _check_entered(call: str, i: int, child: AbstractScheduler) -> None:
    """torch enters a later scheduler at its milestone through its closed form at step 0, which for
    these configurations is not the scheduler's own first value: refused rather than diverging."""
    name = type(child).__name__
    if getattr(child, "idle", False):
        message = (
            f"`{call}(schedulers=...)`: item {i} (`{name}(total_iters=0)`) is entered at its milestone through "
            "torch's closed form, which {}; give it a positive `total_iters`, or put it first."
        )
        if name == "ConstantLR":
            raise ValueError(message.format("drops the factor there (its own steps keep it), not replicated"))
        raise TorchZeroDivisionError(message.format("divides by `total_iters` (a ZeroDivisionError in torch)"))
    if getattr(child, "before_start", 0):
        raise ValueError(
            f"`{call}(schedulers=...)`: item {i} (`MultiStepLR` with negative milestones) is entered at its "
            "milestone through torch's closed form, which counts negative milestones (its own steps do not); "
            "not replicated: leave them out, or put it first."
        )


def bisect_right(sorted_or_not: Int[Array, " n"], x: Int[Array, ""]) -> Int[Array, ""]:
    """Python's `bisect.bisect_right(a, x)`, step for step, for any `a` (sorted or not)."""
    n = sorted_or_not.shape[0]
    lo, hi = jnp.zeros_like(x), jnp.full_like(x, n)
    for _ in range(max(n, 1).bit_length()):
        searching = lo < hi
        mid = (lo + hi) // 2
        below = x < select(jnp.minimum(mid, n - 1), list(sorted_or_not))
        hi = jnp.where(searching & below, mid, hi)
        lo = jnp.where(searching & ~below, mid + 1, lo)
    return lo


def _milestones(call: str, milestones: Any, n_schedulers: int) -> tuple[Int[Array, " n"], bool]:
    """The milestones (one fewer than the schedulers) and whether they are in order.

    Whole numbers, as torch compares them with the step count; a repeated, negative or
    out-of-order one is what torch computes with, and warns.
    """
    expected = f"{n_schedulers - 1} whole step counts (one fewer than the {n_schedulers} schedulers)"
    if is_traced(milestones):
        array = integer(call, "milestones", jnp.asarray(milestones), low=0)
        if array.shape != (n_schedulers - 1,):
            raise fail(call, "milestones", milestones, expected)
        return array, True
    values = milestone_values(call, milestones)
    if len(values) != n_schedulers - 1:
        raise fail(call, "milestones", milestones, expected)
    if any(isinstance(m, float) for m in values):
        raise fail(
            call,
            "milestones",
            milestones,
            f"{expected}: torch steps the next scheduler at a fractional one instead of restarting it, "
            "which this does not replicate",
        )
    if any(abs(m) > INT32_MAX for m in values):
        raise fail(call, "milestones", milestones, f"{expected} within int32 (|m| <= {INT32_MAX})")
    ordered = all(a <= b for a, b in zip(values, values[1:]))
    if not ordered:
        warn(
            call, "milestones", milestones, "torch looks them up by bisection, which assumes them sorted; so does this."
        )
    elif len(set(values)) != len(values):
        warn(call, "milestones", milestones, "a repeated milestone skips the scheduler between (as in torch).")
    if any(m < 0 for m in values):
        warn(call, "milestones", milestones, "a negative milestone is passed before the first step (as in torch).")
    return as_int(np.asarray(values, np.int64).reshape(len(values))), ordered
