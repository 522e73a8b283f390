"""A small deterministic training run that checkpoints its whole state and resumes after a crash.

`tests/test_crash_recovery.py` runs it as a subprocess, kills it with SIGKILL, restarts it,
and checks that the interrupted run ends bit for bit where an uninterrupted one does.

    python tests/crash_train.py --steps 60 --every 4 --ckpt run/state.ckpt --log run/lr.log --final run/final.npz

The train state is one pytree saved with `ss.save` (atomically: temporary file, fsync,
`os.replace`): the MLP's params, the optax state, the two schedulers, the step counter,
the data key and the running sum of the epoch's losses. Everything that influences a
later step is in it, so a restarted run continues exactly as if it had never stopped.

- Data: every step splits the data key (`key, batch_key = split(key)`) and draws a fresh
  regression batch from `batch_key`; the key is part of the train state.
- Optimizer: `optax.chain(inject_hyperparams(adam)(learning_rate=...),
  inject_hyperparams(scale)(step_size=...))`: Adam's lr comes from a per-batch
  `SequentialLR(LinearLR warm-up, CosineAnnealingWarmRestarts)`, and the updates are
  scaled by a `ReduceLROnPlateau` (lr 1.0: a factor) stepped once per epoch on the epoch's
  mean training loss. Both are written into the optimizer state with
  `ss.optax.set_hyperparams` after every step.

**Log:** one line per step, `step lr scale loss` (the floats as `float.hex`, exact), where
`lr` and `scale` are the values the optimizer used at that step. Lines are appended and
flushed step by step, before the checkpoint that covers them is written. On start the
script rewrites the log (atomically) to keep only the lines of the steps before the
checkpoint it resumes from (none on a fresh start): the steps a killed run did after its
last checkpoint are done again, and a line cut short by the kill is dropped with them. So
after any sequence of kills and restarts the log has exactly one line per step.

**Stdout** (flushed line by line, for the test to follow): `fresh start` or
`resumed from step S`, then `saved step S` after each checkpoint and `step I` once step
`I - 1` is done (so `step I` means "I steps done", printed after the checkpoint of step I
if there is one), and `done` at the end. `--final` gets every leaf of the final train state
(`np.savez`, keyed by the leaf's path).

**Test hook:** with the environment variable `CRASH_TRAIN_PAUSE_BEFORE_REPLACE=N`, the
N-th `os.replace` onto the checkpoint path (in this process) prints `pausing before replace`
and sleeps instead of returning, so the test can kill the process between writing the
temporary file and renaming it over the checkpoint.
"""

import argparse
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import statefulsched as ss

SEED = 0
BATCH, DIM, HIDDEN = 16, 4, 16
STEPS_PER_EPOCH = 5
BASE_LR = 0.05
WARMUP = 8


def initial_state() -> dict:
    """The train state at step 0; also the `like` that `ss.load` reads a checkpoint into."""
    # NumPy for the initial params: no XLA compilation (each subprocess of the test pays for its own).
    rng = np.random.default_rng(SEED)
    params = {
        "w1": rng.normal(size=(DIM, HIDDEN)) / np.sqrt(DIM),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(size=(HIDDEN, 1)) / np.sqrt(HIDDEN),
        "b2": np.zeros(1),
    }
    params = {name: jnp.asarray(value, jnp.float32) for name, value in params.items()}
    sched = ss.SequentialLR(
        [
            ss.LinearLR(BASE_LR, start_factor=0.1, total_iters=WARMUP),
            ss.CosineAnnealingWarmRestarts(BASE_LR, T_0=6, T_mult=2, eta_min=1e-3),
        ],
        milestones=[WARMUP],
    )
    # A factor on the updates, cut in half when the epoch's mean loss stops improving by 2%.
    plateau = ss.ReduceLROnPlateau(1.0, factor=0.5, patience=0, threshold=0.02)
    opt_state = ss.optax.set_hyperparams(optimizer().init(params), sched)
    opt_state = ss.optax.set_hyperparams(opt_state, plateau, lr="step_size")
    return {
        "step": jnp.asarray(0, jnp.int32),
        "key": jax.random.PRNGKey(SEED),
        "params": params,
        "opt_state": opt_state,
        "sched": sched,
        "plateau": plateau,
        "loss_sum": jnp.asarray(0.0, jnp.float32),
    }


def optimizer() -> optax.GradientTransformation:
    # The initial values only fix dtypes and shapes: `set_hyperparams` writes the real ones.
    return optax.chain(
        optax.inject_hyperparams(optax.adam)(learning_rate=jnp.float32(BASE_LR)),
        optax.inject_hyperparams(optax.scale)(step_size=jnp.float32(1.0)),
    )


def _mlp(params: dict, x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def _batch(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    kx, kn = jax.random.split(key)
    x = jax.random.normal(kx, (BATCH, DIM), jnp.float32)
    w_true = jnp.arange(1, DIM + 1, dtype=jnp.float32) / DIM
    y = jnp.sin(x @ w_true)[:, None] + 0.3 * jax.random.normal(kn, (BATCH, 1), jnp.float32)
    return x, y


@jax.jit
def train_step(params, opt_state, key, loss_sum):
    key, batch_key = jax.random.split(key)
    x, y = _batch(batch_key)

    def loss_fn(p):
        return jnp.mean((_mlp(p, x) - y) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer().update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, key, loss_sum + loss, loss


def _truncate_log(path: str, keep: int) -> None:
    """Keep the lines of steps `< keep` (whole lines only), atomically."""
    lines = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.endswith("\n") and int(line.split()[0]) < keep:
                    lines.append(line)
    if [int(line.split()[0]) for line in lines] != list(range(keep)):
        raise RuntimeError(f"{path}: expected one line for each of the steps 0..{keep - 1}")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".log-")
    with os.fdopen(fd, "w") as f:
        f.writelines(lines)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _install_pause_hook(ckpt: str) -> None:
    pause_at = int(os.environ.get("CRASH_TRAIN_PAUSE_BEFORE_REPLACE", "0"))
    if pause_at <= 0:
        return
    target = os.path.abspath(ckpt)
    real_replace = os.replace
    calls = 0

    def replace(src, dst, **kwargs):
        nonlocal calls
        if os.path.abspath(os.fspath(dst)) == target:
            calls += 1
            if calls == pause_at:
                print("pausing before replace", flush=True)
                time.sleep(3600)  # the test kills the process here
        return real_replace(src, dst, **kwargs)

    os.replace = replace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, required=True, help="total number of steps")
    parser.add_argument("--ckpt", required=True, help="checkpoint file: resumed from if it exists")
    parser.add_argument("--every", type=int, required=True, help="checkpoint every K steps (and at the end)")
    parser.add_argument("--log", required=True, help="per-step log of the lr, scale and loss")
    parser.add_argument("--final", help="where to write the final train state's leaves (.npz)")
    args = parser.parse_args(argv)

    state = initial_state()
    if os.path.exists(args.ckpt):
        # A checkpoint that does not load raises here: never silently start over.
        state = ss.load(args.ckpt, state)
        print(f"resumed from step {int(state['step'])}", flush=True)
    else:
        print("fresh start", flush=True)
    _truncate_log(args.log, int(state["step"]))
    _install_pause_hook(args.ckpt)

    step = int(state["step"])
    key, params, opt_state = state["key"], state["params"], state["opt_state"]
    sched, plateau, loss_sum = state["sched"], state["plateau"], state["loss_sum"]
    with open(args.log, "a") as log:
        while step < args.steps:
            lr, scale = opt_state[0].hyperparams["learning_rate"], opt_state[1].hyperparams["step_size"]
            params, opt_state, key, loss_sum, loss = train_step(params, opt_state, key, loss_sum)
            log.write(f"{step} {float(lr).hex()} {float(scale).hex()} {float(loss).hex()}\n")
            log.flush()
            step += 1
            sched = sched.step()
            if step % STEPS_PER_EPOCH == 0:
                plateau = plateau.step(loss_sum / STEPS_PER_EPOCH)
                loss_sum = jnp.asarray(0.0, jnp.float32)
            opt_state = ss.optax.set_hyperparams(opt_state, sched)
            opt_state = ss.optax.set_hyperparams(opt_state, plateau, lr="step_size")
            state = {
                "step": jnp.asarray(step, jnp.int32),
                "key": key,
                "params": params,
                "opt_state": opt_state,
                "sched": sched,
                "plateau": plateau,
                "loss_sum": loss_sum,
            }
            if step % args.every == 0 or step == args.steps:
                ss.save(args.ckpt, state)
                print(f"saved step {step}", flush=True)
            print(f"step {step}", flush=True)
    if args.final:
        leaves = jax.tree_util.tree_flatten_with_path(state)[0]
        np.savez(args.final, **{jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves})
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
