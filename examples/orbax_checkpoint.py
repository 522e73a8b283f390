"""Checkpoint a whole train state with orbax: an Equinox model, its optax state and two schedulers.

The train state is one Equinox module holding

- `model`: an `eqx.nn.MLP` (regression on synthetic data);
- `opt_state`: the state of `optax.chain(inject_hyperparams(adamw)(...), inject_hyperparams(scale)(...))`;
- `sched`: a `OneCycleLR`, stepped every batch inside the jitted train step, which
  writes its lr and momentum into AdamW's `learning_rate` and `b1`;
- `plateau`: a `ReduceLROnPlateau` (lr 1.0: a factor), stepped once per epoch on the
  validation loss, eagerly, which writes its value into the `scale` step's `step_size`;
- `step` and the data `key` (batches are drawn with it inside the train step).

It is saved with an `orbax.checkpoint.CheckpointManager` at the end of every epoch, as one
pytree. Then, like a new process would, the example builds everything anew (a fresh train
state as the restore target, a new manager on the same directory), restores an earlier
epoch's checkpoint, continues training, and checks that it ends exactly where the
uninterrupted run ended: same params, optimizer state, scheduler state and lr at every step.

**Equinox and orbax.** orbax saves and restores arrays. An Equinox module also has static
fields (the MLP's activation function, `ReduceLROnPlateau(mode=...)`,
`OneCycleLR(anneal_strategy=...)`), which live in the pytree's structure, not in its
leaves. So save `eqx.filter(state, eqx.is_array)`, and restore into the array part of a
template built like the original (`eqx.partition(like, ...)`, where `like` is a fresh
train state or, computing nothing, `eqx.filter_eval_shape` of its constructor) before
putting the static part back with `eqx.combine`: see `save` and `restore` below.

**The pitfall:** everything static comes from the *template*, not from the checkpoint.
Restore a `ReduceLROnPlateau(mode="max")` checkpoint into a template built with
`mode="min"` and orbax returns a scheduler with the saved state and the template's mode,
without a word. statefulsched guards against this: every scheduler carries a fingerprint of
its static configuration as an `int32` leaf, which is restored from the checkpoint, and
`ss.verify(state)` compares it with the configuration each scheduler actually has; a
mismatch raises `ValueError` naming the scheduler's place in the train state. `restore`
below calls it (an eager `step` would also refuse; a `step` inside `jax.jit` does not
check, since that would cost a host callback on every step). Numeric hyperparameters
(`factor`, `patience`, `total_steps`...) are array leaves: they come from the checkpoint,
and a template built with other values is overridden silently (the fingerprint covers
static fields only). `ss.load`, which checks every scheduler's class and configuration
against the template, reports both.
`static_config_pitfall` below shows the guard.

**No recompilation after a restore:** the restored state must look to `jax.jit` exactly
like the state it replaces, or the train step compiles again. Two things matter:

- dtypes and weak types: the restore target gives each leaf its dtype, and orbax restores
  strongly typed arrays. statefulsched's leaves (and optax's injected hyperparameters) are
  never weakly typed, so they come back as they were; a weakly typed leaf of your own
  (`jnp.asarray(0)` from a Python int) would come back strongly typed and cost a retrace.
- placement: orbax restores arrays *committed* to a device, while arrays made by `jnp` are
  uncommitted, and `jax.jit` compiles a function separately for each. The trace is
  reused, so a trace counter does not see it, but XLA compiles the whole step again. So
  the fresh state is placed with `SHARDING` too, the sharding the restore uses.

`traces["train_step"]` counts the traces of the train step (1 at the end of `main`); the
test also counts its XLA compilations (1).

Run it with

    python examples/orbax_checkpoint.py            # 12 epochs of 20 steps, resume from epoch 6
    python examples/orbax_checkpoint.py --quick    # a few seconds: 6 epochs of 6 steps, resume from epoch 3
    python examples/orbax_checkpoint.py --dir /tmp/ckpts   # keep the checkpoints (default: a temporary directory)
"""

import argparse
import collections
import dataclasses
import pathlib
import tempfile
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

import statefulsched as ss

N_FEATURES, N_TRAIN, N_VAL, BATCH = 8, 256, 64, 32
MAX_LR = 0.01

# Python code in a jitted function runs only while JAX traces it: this counts traces.
traces = collections.Counter()

# Where the train state lives. Placing it explicitly matters even on one device: arrays
# made by `jnp` are "uncommitted" to a device, orbax restores "committed" ones, and `jax.jit`
# compiles a function separately for each (the trace is reused, XLA compiles again). With
# the fresh state committed to the sharding the restore uses, one compilation serves both.
# (On several devices: a `NamedSharding` per leaf, for both.)
SHARDING = jax.sharding.SingleDeviceSharding(jax.devices()[0])


@dataclasses.dataclass(frozen=True)
class Config:
    epochs: int
    steps_per_epoch: int
    width: int
    depth: int
    seed: int = 0


class TrainState(eqx.Module):
    model: eqx.nn.MLP
    opt_state: optax.OptState
    sched: ss.OneCycleLR
    plateau: ss.ReduceLROnPlateau
    step: jax.Array
    key: jax.Array


#
# Data, model, optimizer, train step
#


def make_data(seed: int):
    """A noisy regression problem, the same for a given seed."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(N_FEATURES,)) / np.sqrt(N_FEATURES)
    x = rng.normal(size=(N_TRAIN + N_VAL, N_FEATURES))
    y = np.sin(2 * x @ w)[:, None] + 0.1 * rng.normal(size=(N_TRAIN + N_VAL, 1))
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def optimizer() -> optax.GradientTransformation:
    # The values given here only fix dtypes: `init_state` writes the schedulers' values, and
    # `inject_hyperparams` reads them from the optimizer state at every update.
    return optax.chain(
        optax.inject_hyperparams(optax.adamw)(learning_rate=0.0, b1=0.9, weight_decay=1e-4),
        optax.inject_hyperparams(optax.scale)(step_size=1.0),
    )


def _build_state(config: Config) -> TrainState:
    model_key, data_key = jax.random.split(jax.random.PRNGKey(config.seed))
    model = eqx.nn.MLP(N_FEATURES, 1, config.width, config.depth, key=model_key)
    sched = ss.OneCycleLR(MAX_LR, total_steps=config.epochs * config.steps_per_epoch, pct_start=0.25)
    # A demanding threshold (15% better than the best so far), so that even the short runs
    # here see the factor halved several times.
    plateau = ss.ReduceLROnPlateau(1.0, factor=0.5, patience=0, threshold=0.15)
    opt_state = optimizer().init(eqx.filter(model, eqx.is_array))
    opt_state = ss.optax.set_hyperparams(opt_state, sched)  # lr and momentum (AdamW's b1)
    opt_state = ss.optax.set_hyperparams(opt_state, plateau, lr="step_size")
    return TrainState(model, opt_state, sched, plateau, jnp.asarray(0, jnp.int32), data_key)


def init_state(config: Config) -> TrainState:
    """A fresh train state, placed on `SHARDING`.

    Built by one compiled function: one XLA compilation rather than one per operation,
    which is faster to start.
    """
    state = eqx.filter_jit(_build_state)(config)
    return jax.tree.map(lambda x: jax.device_put(x, SHARDING) if eqx.is_array(x) else x, state)


def abstract_state(config: Config) -> TrainState:
    """`init_state(config)` with `jax.ShapeDtypeStruct`s for arrays: a restore target that computes nothing."""
    return eqx.filter_eval_shape(_build_state, config)


def _loss(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@eqx.filter_jit
def train_step(state: TrainState, x: jax.Array, y: jax.Array) -> tuple[TrainState, jax.Array, jax.Array]:
    """One AdamW step on a random batch; returns the new state, the loss and the (lr, b1, scale) used."""
    traces["train_step"] += 1
    key, batch_key = jax.random.split(state.key)
    idx = jax.random.choice(batch_key, x.shape[0], (BATCH,), replace=False)
    loss, grads = eqx.filter_value_and_grad(_loss)(state.model, x[idx], y[idx])
    adamw, scale = state.opt_state
    used = jnp.stack([adamw.hyperparams["learning_rate"], adamw.hyperparams["b1"], scale.hyperparams["step_size"]])
    updates, opt_state = optimizer().update(grads, state.opt_state, eqx.filter(state.model, eqx.is_array))
    model = eqx.apply_updates(state.model, updates)
    sched = state.sched.step()
    opt_state = ss.optax.set_hyperparams(opt_state, sched)
    new = dataclasses.replace(state, model=model, opt_state=opt_state, sched=sched, step=state.step + 1, key=key)
    return new, loss, used


val_loss = eqx.filter_jit(_loss)


def train_epochs(state: TrainState, config: Config, data, epochs: range, manager=None):
    """Train over `epochs`; at the end of each, step the plateau and, given a manager, checkpoint.

    Returns the state and, per step, the (lr, b1, scale) the optimizer used.
    """
    (x, y), (x_val, y_val) = data
    used = []
    for _ in epochs:
        for _ in range(config.steps_per_epoch):
            state, _, hyper = train_step(state, x, y)
            used.append(hyper)
        plateau = state.plateau.step(val_loss(state.model, x_val, y_val))
        opt_state = ss.optax.set_hyperparams(state.opt_state, plateau, lr="step_size")
        state = dataclasses.replace(state, plateau=plateau, opt_state=opt_state)
        if manager is not None:
            save(manager, state)
    return state, np.asarray(jnp.stack(used)) if used else np.zeros((0, 3), np.float32)


#
# Checkpointing
#


def checkpoint_manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    # Keep every epoch's checkpoint (the example resumes from an earlier one); a real run
    # would rather set `max_to_keep`. Saves are asynchronous: `save` returns once the
    # arrays are copied to host memory, and the files are written in a background thread.
    return ocp.CheckpointManager(directory.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=None))


def save(manager: ocp.CheckpointManager, state: TrainState) -> None:
    """Save the train state's arrays under its step number.

    The static part (activation functions, scheduler modes) is not saved: it is in the
    code, and the restore target brings it back.
    """
    manager.save(int(state.step), args=ocp.args.StandardSave(eqx.filter(state, eqx.is_array)))


def _is_array(x) -> bool:
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def restore(manager: ocp.CheckpointManager, like: TrainState, step: int | None = None) -> TrainState:
    """The train state saved at `step` (default: the latest), in the structure of `like`.

    `like` must be built with the same configuration as the saved state: a fresh
    `init_state(config)`, or, computing nothing, its shapes `abstract_state(config)`. Its
    arrays (or `ShapeDtypeStruct`s) give the shapes and dtypes to restore, its static
    fields are kept as they are; `ss.verify` checks that the schedulers' static fields are
    the ones their state was saved with (see the module docstring).
    """
    arrays, static = eqx.partition(like, _is_array)
    # Each leaf's shape, dtype and where to put it.
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=SHARDING), arrays)
    step = manager.latest_step() if step is None else step
    restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return ss.verify(eqx.combine(restored, static))


def static_config_pitfall(manager: ocp.CheckpointManager, config: Config, step: int) -> str:
    """Restore into a template whose `ReduceLROnPlateau` has another `mode`: `ss.verify` raises.

    Returns the error message.
    """
    like = abstract_state(config)
    wrong = ss.ReduceLROnPlateau(1.0, mode="max", factor=0.5, patience=0, threshold=0.15)
    like = dataclasses.replace(like, plateau=wrong)
    try:
        restore(manager, like, step)  # orbax itself accepts it: the arrays have the same shapes
    except ValueError as e:
        return str(e)
    raise AssertionError("a scheduler restored with another static configuration passed `ss.verify`")


#
# The run
#


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 epochs of 6 steps, resume from epoch 3")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps-per-epoch", type=int, default=20)
    parser.add_argument("--resume-epoch", type=int, help="resume from the checkpoint of this epoch (default: middle)")
    parser.add_argument("--dir", type=pathlib.Path, help="checkpoint directory (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.quick:
        config = Config(epochs=6, steps_per_epoch=6, width=16, depth=2)
    else:
        config = Config(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, width=64, depth=2)
    resume_epoch = config.epochs // 2 if args.resume_epoch is None else args.resume_epoch
    if not 1 <= resume_epoch < config.epochs:
        parser.error(f"--resume-epoch must be in [1, {config.epochs - 1}]")

    with tempfile.TemporaryDirectory() as tmp:
        directory = (args.dir if args.dir is not None else pathlib.Path(tmp)) / "orbax_checkpoint"
        if directory.exists() and any(directory.iterdir()):
            # The manager would skip the steps already there (and leave the old checkpoints).
            parser.error(f"{directory} already holds checkpoints; give an empty --dir")
        data = make_data(config.seed)
        start = time.perf_counter()

        # 1. Train from scratch to the end, checkpointing at the end of every epoch.
        with checkpoint_manager(directory) as manager:
            final, used = train_epochs(init_state(config), config, data, range(config.epochs), manager)
            manager.wait_until_finished()
            saved_steps = manager.all_steps()

        # 2. As a new process would: new objects throughout. The restore target is the
        #    shape of a fresh train state; the checkpoint gives every value.
        resume_step = resume_epoch * config.steps_per_epoch
        with checkpoint_manager(directory) as manager:
            restored = restore(manager, abstract_state(config), resume_step)
            resumed, resumed_used = train_epochs(restored, config, data, range(resume_epoch, config.epochs))
            pitfall = static_config_pitfall(manager, config, resume_step)
        seconds = time.perf_counter() - start

    same_leaves = all(
        a.dtype == b.dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes()  # bit for bit
        for a, b in zip(
            jax.tree.leaves(eqx.filter(final, eqx.is_array)), jax.tree.leaves(eqx.filter(resumed, eqx.is_array))
        )
    )
    same_lrs = used[resume_step:].tobytes() == resumed_used.tobytes()
    print(f"{config.epochs} epochs of {config.steps_per_epoch} steps; checkpoints at steps {saved_steps}")
    print(f"resumed from step {resume_step}: final state identical: {same_leaves}, lrs identical: {same_lrs}")
    print(f"final lr {float(final.sched.lr):.3e}, plateau factor {float(final.plateau.lr)}")
    print(f"train_step traced {traces['train_step']} time(s); {seconds:.1f} s")
    print(f"restored into a template with another mode, ss.verify raised: {pitfall[:90]}...")
    return {
        "config": config,
        "saved_steps": saved_steps,
        "resume_step": resume_step,
        "final": final,
        "restored": restored,
        "resumed": resumed,
        "used": used,
        "resumed_used": resumed_used,
        "same_leaves": same_leaves,
        "same_lrs": same_lrs,
        "train_step_traces": traces["train_step"],
        "pitfall": pitfall,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
