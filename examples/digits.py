"""Train a small Equinox MLP on scikit-learn's handwritten digits with statefulsched.

This example shows the two ways a PyTorch-style learning-rate scheduler is used, with
an optax optimizer whose hyperparameters are exposed by `optax.inject_hyperparams`:

1. **Per-batch, inside `jit`** (`--schedule onecycle`). A `OneCycleLR` scheduler is an
   ordinary pytree, so it is passed into the jitted train step along with the model and
   the optimizer state, and returned from it. Inside the step its `lr` (and, since
   `cycle_momentum=True`, its `momentum`) is written into the optimizer state, the
   update is applied, and then `sched = sched.step()`. The step function is compiled
   once for the whole run: the scheduler's state is just a few arrays.

2. **Per-epoch, outside `jit`** (`--schedule plateau`). A `ReduceLROnPlateau`
   scheduler watches the validation loss: after each epoch `sched = sched.step(val_loss)`
   in plain Python, and its `lr` is written into the optimizer state before the next
   epoch. The train step itself knows nothing about the scheduler.

In both cases the scheduler is immutable: `step` returns a new scheduler, exactly like
the rest of the JAX/Equinox state.

The data is `sklearn.datasets.load_digits` (1797 8x8 greyscale images, bundled with
scikit-learn, so nothing is downloaded), split 80/20 into train and validation sets.

Run it with

    python examples/digits.py                      # both schedules, one after the other
    python examples/digits.py --schedule onecycle  # just one of them
    python examples/digits.py --epochs 10 --seed 1
    python examples/digits.py --quick              # a few seconds: tiny model, 3 epochs

It needs the `examples` extras: `pip install "statefulsched[examples]"` (scikit-learn
and tqdm).
"""

import argparse
import collections
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import statefulsched as ss

#
# Data and model
#


def load_data(seed: int):
    """Digits as float32 arrays in [0, 1], split 80/20 (stratified) with a fixed seed."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixel values are integers 0..16
    y = y.astype(np.int32)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return (x_train, y_train), (jnp.asarray(x_val), jnp.asarray(y_val))


def batches(x, y, batch_size: int, rng: np.random.Generator):
    """Shuffled minibatches. The ragged last batch is dropped so every batch has the same
    shape and the train step compiles only once."""
    perm = rng.permutation(len(x))
    for i in range(len(x) // batch_size):
        idx = perm[i * batch_size : (i + 1) * batch_size]
        yield x[idx], y[idx]


def make_model(width: int, depth: int, key) -> eqx.nn.MLP:
    return eqx.nn.MLP(in_size=64, out_size=10, width_size=width, depth=depth, activation=jax.nn.relu, key=key)


def loss_fn(model, x, y):
    logits = jax.vmap(model)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@eqx.filter_jit
def evaluate(model, x, y):
    logits = jax.vmap(model)(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
    return loss, accuracy


#
# Train steps
#


# Python code in a jitted function runs only while JAX traces it, so these counts say how
# often each train step was compiled: once per run, as long as everything passed in
# (model, optimizer state, scheduler) keeps its structure and dtypes from step to step.
traces = collections.Counter()


def _update(model, opt_state, x, y, optim):
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    model = eqx.apply_updates(model, updates)
    return model, opt_state, loss


@eqx.filter_jit
def train_step(model, opt_state, x, y, optim):
    """Pattern 2 (per-epoch scheduling): a plain train step; the lr is whatever is
    already in `opt_state`. (`optim` holds only functions, so `filter_jit` treats it as
    static.)"""
    traces["train_step"] += 1
    return _update(model, opt_state, x, y, optim)


@eqx.filter_jit
def train_step_scheduled(model, opt_state, sched, x, y, optim):
    """Pattern 1 (per-batch scheduling): the scheduler goes in and comes out of `jit`.

    As in PyTorch, the optimizer step uses the scheduler's current lr, and the
    scheduler is stepped afterwards.
    """
    traces["train_step_scheduled"] += 1
    # Writes the lr, and the momentum OneCycleLR(cycle_momentum=True) cycles, into the
    # optimizer state (`momentum` of SGD, `b1` of Adam), in the dtypes already there, so
    # the state never changes type. Any other per-batch scheduler can be swapped in, e.g.
    # warm-up then cosine:
    #   ss.SequentialLR([ss.LinearLR(lr, start_factor=0.1, total_iters=w),
    #                    ss.CosineAnnealingLR(lr, T_max=total - w)], milestones=[w])
    opt_state = ss.optax.set_hyperparams(opt_state, sched)
    model, opt_state, loss = _update(model, opt_state, x, y, optim)
    sched = sched.step()  # a new scheduler, returned along with the new model and state
    # Passing the whole scheduler in and out costs the host a few µs per array on every call.
    # Where that matters (short steps), carry only its state: `ss.partition` (see the README).
    return model, opt_state, sched, loss


#
# The training loop shared by both patterns
#


def fit(name, model, optim, sched, *, per_batch: bool, train, val, args):
    """Train `model` for `args.epochs` epochs; return a summary of the run.

    `per_batch=True`: `sched` is stepped inside the jitted train step after every batch.
    `per_batch=False`: `sched` is a `ReduceLROnPlateau` stepped once per epoch on the
    validation loss.
    """
    (x_train, y_train), (x_val, y_val) = train, val
    epochs, batch_size = args.epochs, args.batch_size
    rng = np.random.default_rng(args.seed)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))
    lr_per_batch, momentum_per_batch, history = [], [], []
    step_name = "train_step_scheduled" if per_batch else "train_step"
    traces_before = traces[step_name]
    start = time.perf_counter()

    # `disable=None` turns the bar off when stdout is not a terminal (logs, CI, pytest);
    # `tqdm.write` prints the per-epoch lines without breaking the bar.
    bar = tqdm(range(1, epochs + 1), desc=name, unit="epoch", leave=False, disable=None)
    for epoch in bar:
        if not per_batch:
            # Pattern 2: the scheduler's lr holds for the whole epoch.
            opt_state = ss.optax.set_hyperparams(opt_state, sched)

        losses = []
        for x, y in batches(x_train, y_train, batch_size, rng):
            if per_batch:
                model, opt_state, sched, loss = train_step_scheduled(model, opt_state, sched, x, y, optim)
            else:
                model, opt_state, loss = train_step(model, opt_state, x, y, optim)
            losses.append(loss)
            # The values the optimizer actually used for this update. (Kept as device
            # arrays and fetched once per epoch, so the loop never waits on the device.)
            lr_per_batch.append(opt_state.hyperparams["learning_rate"])
            if "momentum" in opt_state.hyperparams:
                momentum_per_batch.append(opt_state.hyperparams["momentum"])

        train_loss = float(jnp.mean(jnp.stack(losses)))
        val_loss, val_acc = evaluate(model, x_val, y_val)
        val_loss, val_acc = float(val_loss), float(val_acc)
        lr = float(lr_per_batch[-1])  # the lr of this epoch's last update
        record = dict(epoch=epoch, lr=lr, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
        history.append(record)

        note = ""
        if not per_batch:
            # Pattern 2: step the scheduler on the validation loss, outside jit. (A JAX
            # scalar works as well as a Python float here.)
            sched = sched.step(val_loss)
            if sched.get_last_lr()[0] < lr:
                note = f"  -> lr reduced to {sched.get_last_lr()[0]:.4g}"
        tqdm.write(
            f"[{name}] epoch {epoch:3d}/{epochs}  lr {lr:.4g}  train loss {train_loss:.4f}  "
            f"val loss {val_loss:.4f}  val acc {val_acc:6.2%}{note}"
        )
        bar.set_postfix(lr=f"{lr:.3g}", val_acc=f"{val_acc:.2%}")
    bar.close()

    seconds = time.perf_counter() - start
    compilations = traces[step_name] - traces_before
    print(
        f"[{name}] done in {seconds:.1f}s: val acc {history[-1]['val_acc']:.2%}, "
        f"best {max(r['val_acc'] for r in history):.2%}; train step compiled {compilations}x"
    )
    return dict(
        val_acc=history[-1]["val_acc"],
        val_loss=history[-1]["val_loss"],
        best_val_acc=max(r["val_acc"] for r in history),
        lr_per_batch=[float(v) for v in jax.device_get(lr_per_batch)],
        momentum_per_batch=[float(v) for v in jax.device_get(momentum_per_batch)],
        lr_per_epoch=[r["lr"] for r in history],
        history=history,
        seconds=seconds,
        compilations=compilations,
    )


#
# The two runs
#


def run_onecycle(args, train, val, key):
    """Pattern 1: OneCycleLR, stepped every batch inside the jitted train step."""
    steps_per_epoch = len(train[0]) // args.batch_size
    sched = ss.OneCycleLR(
        max_lr=0.2,
        total_steps=args.epochs * steps_per_epoch,  # one scheduler step per train step
        pct_start=0.3,
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    # The initial values only fix the hyperparameters' dtypes; the train step overwrites
    # them from the scheduler before every update.
    optim = optax.inject_hyperparams(optax.sgd)(learning_rate=sched.lr, momentum=sched.momentum)
    model = make_model(args.width, args.depth, key)
    return fit("onecycle", model, optim, sched, per_batch=True, train=train, val=val, args=args)


def run_plateau(args, train, val, key):
    """Pattern 2: ReduceLROnPlateau, stepped once per epoch on the validation loss."""
    sched = ss.ReduceLROnPlateau(3e-3, mode="min", factor=0.5, patience=2, threshold=1e-4, cooldown=0, min_lr=1e-5)
    optim = optax.inject_hyperparams(optax.adamw)(learning_rate=sched.lr, weight_decay=1e-4)
    model = make_model(args.width, args.depth, key)
    return fit("plateau", model, optim, sched, per_batch=False, train=train, val=val, args=args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--schedule",
        choices=("onecycle", "plateau", "both"),
        default="both",
        help="which scheduling pattern to run (default: both, one after the other)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: 30, or 3 with --quick)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32, or 64 with --quick")
    parser.add_argument("--quick", action="store_true", help="tiny settings that finish in a few seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed for the data split, initialisation and shuffling")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.quick else 30
    if args.batch_size is None:
        args.batch_size = 64 if args.quick else 32
    args.width, args.depth = (32, 1) if args.quick else (128, 2)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")
    return args


def main(argv=None) -> dict:
    """Run the demo; return a summary with one entry per run ("onecycle", "plateau").

    Each entry has the final and best validation accuracy, the final validation loss,
    the lr (and momentum, where the optimizer has one) used by every update
    (`lr_per_batch`, `momentum_per_batch`), the lr of each epoch's last update
    (`lr_per_epoch`), the per-epoch `history`, the wall time in `seconds`, and how many
    times the train step was compiled (`compilations`).
    """
    args = parse_args(argv)
    train, val = load_data(args.seed)
    if args.batch_size > len(train[0]):
        raise SystemExit(f"--batch-size must be at most the training set size, {len(train[0])}")
    print(
        f"digits: {len(train[0])} train / {len(val[0])} validation images; MLP 64 -> "
        f"{'x'.join([str(args.width)] * args.depth)} -> 10; {args.epochs} epochs, batch size {args.batch_size}"
    )
    onecycle_key, plateau_key = jax.random.split(jax.random.key(args.seed))

    summary = {}
    if args.schedule in ("onecycle", "both"):
        summary["onecycle"] = run_onecycle(args, train, val, onecycle_key)
    if args.schedule in ("plateau", "both"):
        summary["plateau"] = run_plateau(args, train, val, plateau_key)
    return summary


if __name__ == "__main__":
    main()
