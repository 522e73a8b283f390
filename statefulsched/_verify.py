"""`verify`: check every scheduler in a restored tree against its static configuration."""

from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractScheduler
from ._fingerprint import MISMATCH, expected_fingerprint, mismatch, traced, walk

Tree = TypeVar("Tree")


def _is_scheduler(x: Any) -> bool:
    return isinstance(x, AbstractScheduler)


def verify(tree: Tree) -> Tree:
    """Check that every scheduler in `tree` has the static configuration its state was saved with.

    Restoring into a template, as `eqx.tree_deserialise_leaves` and orbax do, takes the
    arrays from the checkpoint and the static fields (modes, strategies, functions) from the
    template, and neither notices when they disagree. Each scheduler carries a fingerprint
    of its static configuration as a leaf, so the mismatch can be detected: call `verify`
    on what such a restore returns. (`statefulsched.load` checks this itself, and so does
    every eager `step`; a `step` traced under `jax.jit`, `lax.scan` or `jax.vmap` does
    not, since an in-graph check costs a host callback on every step.)

    **Arguments:**

    - `tree`: any pytree: a scheduler, a train state holding schedulers, a batch built
        with `jax.vmap`.

    **Returns** `tree` itself, so that `state = ss.verify(restore(...))` reads naturally.
    Under `jax.jit` the check is compiled into the program (one `eqx.error_if` where
    `verify` is called, not per step) and the returned arrays carry it.

    **Raises** `ValueError` naming the path of the first scheduler that does not match,
    for a concrete `tree`; for a traced one, the error surfaces when the program runs.
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_scheduler)[0]
    schedulers = [(path, leaf) for path, leaf in leaves if _is_scheduler(leaf)]
    pending = []  # traced: checked in the program
    for path, scheduler in schedulers:
        where = f"`{type(scheduler).__name__}`" + (f" at `{jax.tree_util.keystr(path)}`" if path else "")
        if traced(scheduler):
            pending.append((scheduler, where))
            continue
        inner = mismatch(scheduler)
        if inner is not None:
            raise ValueError(f"`statefulsched.verify`: the {where}{inner}: {MISMATCH}")
    if not pending:
        return tree
    arrays, static = eqx.partition(tree, eqx.is_array)
    for scheduler, where in pending:
        bad = jnp.any(jnp.stack([jnp.any(node.fingerprint != expected_fingerprint(node)) for node in walk(scheduler)]))
        arrays = eqx.error_if(arrays, bad, f"`statefulsched.verify`: the {where}: {MISMATCH}")
    return eqx.combine(arrays, static)
