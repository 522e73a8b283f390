"""Write a scheduler's lr (and cycled momentum) into an optax optimizer state."""

import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array
from optax import MultiTransformState
from optax.schedules import InjectStatefulHyperparamsState
from optax.schedules._inject import InjectHyperparamsState

from .._base import AbstractScheduler

_INJECTED = (InjectStatefulHyperparamsState, InjectHyperparamsState)
_NODES = (*_INJECTED, MultiTransformState)
_CALL = "set_hyperparams"
_HINT = "build the optimizer as `optax.inject_hyperparams(optax.adam)(learning_rate=sched.lr)`"

OptState = TypeVar("OptState")


def _nnx_variable_type() -> type | None:
    nnx = sys.modules.get("flax.nnx")  # no need to import flax if the user has not
    return None if nnx is None else nnx.Variable


def _find(node: Any, label: Any, found: list) -> None:
    """Every injected state under `node`, with the `multi_transform` label it sits under."""
    if isinstance(node, _INJECTED):
        found.append((label, node))
    elif isinstance(node, MultiTransformState):
        for key, inner in node.inner_states.items():
            _find(inner, key, found)
    else:
        for leaf in jax.tree.leaves(
            node, is_leaf=lambda x: x is not node and isinstance(x, (*_INJECTED, MultiTransformState))
        ):
            if isinstance(leaf, (*_INJECTED, MultiTransformState)):
                _find(leaf, label, found)


def _stored(state: Any, name: str) -> Any:
    value = state.hyperparams[name]
    variable = _nnx_variable_type()
    return value.get_value() if variable is not None and isinstance(value, variable) else value


def _write(old: Any, value: Array) -> Any:
    """`value` in the stored hyperparameter's dtype, weak type and shape (or set in place, for NNX)."""
    variable = _nnx_variable_type()
    if variable is not None and isinstance(old, variable):
        old.set_value(_write(old.get_value(), value))
        return old
    return lax.full_like(old if isinstance(old, jax.Array) else jnp.asarray(old), value)


def _check(state: Any, name: str, role: str, label: Any) -> None:
    where = "" if label is None else f" (under the `multi_transform` label {label!r})"
    scheduled = getattr(state, "hyperparams_states", {})
    if name in scheduled:
        raise ValueError(
            f"`{_CALL}`: the optimizer's `{name}`{where} is a schedule that optax recomputes on every update, "
            f"so the {role} written into it would be overwritten. Inject a value instead "
            f"(`{name}=sched.{'lr' if role == 'lr' else 'momentum'}`), or hand the scheduler itself to "
            f"`inject_hyperparams` (`{name}=sched`) and let the optimizer step it."
        )
    dtype = jnp.result_type(_stored(state, name))
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"`{_CALL}`: the optimizer stores `{name}`{where} as {dtype}, because it was given as an integer; "
            f"writing the {role} into it would truncate it. Give `{name}` as a float (e.g. `{name}=1.0`)."
        )
    low = {}
    for other in state.hyperparams:
        stored = _stored(state, other)
        dtype = jnp.result_type(stored)
        if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
            low[other] = (dtype, float(np.asarray(stored, np.float64)))
    if low:
        dtypes = sorted({str(dtype) for dtype, _ in low.values()})
        values = ", ".join(f"`{other}` is {value!r}" for other, (_, value) in low.items())
        raise ValueError(
            f"`{_CALL}`: the optimizer stores hyperparameters{where} in {' and '.join(dtypes)} (optax casts them to "
            f"the params' dtype), which rounds them: {values}. Build it with "
            "`optax.inject_hyperparams(..., hyperparam_dtype=jnp.float32)` to keep them in float32."
        )


def _momentum_name(state: Any, momentum: str | None, label: Any) -> str:
    if momentum is not None:
        if momentum not in state.hyperparams:
            raise ValueError(
                f"`{_CALL}(momentum={momentum!r})`: the optimizer has no injected `{momentum}`; its injected "
                f"hyperparameters are {sorted(state.hyperparams)}."
            )
        return momentum
    for name in ("b1", "momentum"):
        if name in state.hyperparams:
            return name
    where = "" if label is None else f" under the `multi_transform` label {label!r}"
    raise ValueError(
        f"`{_CALL}`: the scheduler cycles momentum, but the optimizer{where} has neither `b1` (the Adam family) "
        f"nor `momentum` (`optax.sgd(..., momentum=0.9)`; `momentum=None` is not injected) among its injected "
        f"hyperparameters {sorted(state.hyperparams)}. Build the scheduler with `cycle_momentum=False`, or name "
        "the hyperparameter with `momentum=...`."
    )


def _targets(found: list, scheduler: AbstractScheduler, lr: str, labels: Sequence[Any] | None) -> list:
    """The injected state each param group is written to, in group order."""
    with_lr = [(label, state) for label, state in found if lr in state.hyperparams]
    if not with_lr:
        names = sorted({name for _, state in found for name in state.hyperparams})
        raise ValueError(
            f"`{_CALL}`: the optimizer has no injected `{lr}` (its injected hyperparameters are {names}); {_HINT}, "
            "or name the hyperparameter with `lr=...`. A schedule function given to optax is not an injected "
            "value: optax recomputes it on every update."
        )
    n_groups = 1 if scheduler.lr.ndim == 0 else scheduler.lr.shape[0]
    by_label: dict[Any, list] = {}
    for label, state in with_lr:
        by_label.setdefault(label, []).append(state)
    if labels is None:
        if n_groups == 1 and len(with_lr) == 1:
            return with_lr
        if None in by_label:
            raise ValueError(
                f"`{_CALL}`: the scheduler has {n_groups} param group(s), but the optimizer has {len(with_lr)} "
                f"injected `{lr}`s, not all under `optax.multi_transform` labels, so which group goes where is "
                "ambiguous. Map param groups to the labels of an `optax.multi_transform`."
            )
        labels = sorted(by_label)
        if len(labels) != n_groups:
            raise ValueError(
                f"`{_CALL}`: the scheduler has {n_groups} param group(s), but the optimizer has an injected "
                f"`{lr}` under {len(labels)} `multi_transform` labels {labels}; build the scheduler with one lr "
                "per label (group i goes to the i-th label in sorted order), or choose them with `labels=...`."
            )
    else:
        labels = list(labels)
        if len(labels) != n_groups:
            raise ValueError(
                f"`{_CALL}(labels=...)` must name one `multi_transform` label per param group ({n_groups}), "
                f"got {labels!r}."
            )
        missing = [label for label in labels if label not in by_label]
        if missing:
            raise ValueError(
                f"`{_CALL}(labels=...)`: no injected `{lr}` under the label(s) {missing}; the labels with one are "
                f"{sorted(by_label, key=repr)}."
            )
    twice = [label for label in labels if len(by_label[label]) > 1]
    if twice:
        raise ValueError(
            f"`{_CALL}`: the `multi_transform` label {twice[0]!r} holds {len(by_label[twice[0]])} injected `{lr}`s; "
            "which one a param group is written to is ambiguous."
        )
    return [(label, by_label[label][0]) for label in labels]


def set_hyperparams(
    opt_state: OptState,
    scheduler: AbstractScheduler,
    *,
    lr: str = "learning_rate",
    momentum: str | None = None,
    labels: Sequence[Any] | None = None,
) -> OptState:
    """Write the scheduler's lr (and cycled momentum) into an optax optimizer state.

    ```python
    sched = ss.ReduceLROnPlateau(1e-3, patience=5)
    opt = optax.inject_hyperparams(optax.adamw)(learning_rate=sched.lr, weight_decay=1e-4)
    opt_state = opt.init(params)
    ...  # every epoch:
    sched = sched.step(val_loss)
    opt_state = ss.optax.set_hyperparams(opt_state, sched)
    ```

    Returns a new state; `opt_state` is not modified. Works eagerly and under `jax.jit`.
    Each value is written in the dtype, weak type and shape of the value it replaces, so a
    jitted train step taking the new state does not retrace.

    The injected states (`optax.inject_hyperparams`) are found wherever they are nested:
    in `optax.chain`, `optax.named_chain`, `optax.MultiSteps`, `optax.multi_transform`,
    and in a Flax NNX `nnx.Optimizer` (pass the optimizer; its variables are updated in
    place, NNX's convention, and it is returned).

    **Param groups:** a scheduler with `G` groups writes group `i` to the `i`-th label of
    an `optax.multi_transform` whose sub-optimizers inject `lr`, labels in sorted order
    (the order JAX gives dict keys), or in the order of `labels`.

    **Arguments:**

    - `opt_state`: the optimizer state (or `nnx.Optimizer`).
    - `scheduler`: the scheduler whose values to write.
    - `lr`: the name of the injected learning rate. Default `"learning_rate"`.
    - `momentum`: where a cycled momentum (`CyclicLR`, `OneCycleLR`) goes; by default
        `b1` if the optimizer injects one (the Adam family), else `momentum` (`optax.sgd`).
    - `labels`: the `multi_transform` labels of the param groups, in group order.

    **Raises** `ValueError` when nothing can be written correctly: no injected `lr` (the
    usual cause is a schedule function, whose value optax recomputes every update), a
    hyperparameter stored as an integer (`learning_rate=1`), hyperparameters stored in
    bfloat16 or float16 (optax casts them to the params' dtype: Adam's `b2=0.999`
    becomes `1.0`; use `hyperparam_dtype=jnp.float32`), a cycled momentum with nowhere
    to go, or a param-group mapping that does not fit.
    """
    if not isinstance(scheduler, AbstractScheduler):
        raise TypeError(f"`{_CALL}` takes a statefulsched scheduler, got {type(scheduler).__name__}.")
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(opt_state, nnx.Optimizer):
        set_hyperparams(opt_state.opt_state, scheduler, lr=lr, momentum=momentum, labels=labels)
        return opt_state
    found: list = []
    _find(opt_state, None, found)
    if not found:
        raise ValueError(f"`{_CALL}`: the optimizer state holds no injected hyperparameters; {_HINT}.")
    targets = _targets(found, scheduler, lr, labels)
    cycled = getattr(scheduler, "momentum", None)
    if momentum is not None and cycled is None:
        raise ValueError(
            f"`{_CALL}(momentum={momentum!r})`: `{type(scheduler).__name__}` cycles no momentum (only `CyclicLR` "
            "and `OneCycleLR` with `cycle_momentum=True` do)."
        )
    replaced = {}
    for i, (label, state) in enumerate(targets):
        group = (lambda x: x) if len(targets) == 1 and scheduler.lr.ndim == 0 else (lambda x, i=i: x[i])
        writes = {lr: ("lr", group(scheduler.lr))}
        if cycled is not None:
            writes[_momentum_name(state, momentum, label)] = ("momentum", group(cycled))
        for name, (role, _) in writes.items():
            _check(state, name, role, label)
        hyperparams = dict(state.hyperparams)
        for name, (_, value) in writes.items():
            hyperparams[name] = _write(state.hyperparams[name], value)
        replaced[id(state)] = state._replace(hyperparams=hyperparams)
    return jax.tree.map(
        lambda x: replaced.get(id(x), x) if isinstance(x, _INJECTED) else x,
        opt_state,
        is_leaf=lambda x: isinstance(x, _INJECTED),
    )
