"""optax's reduce-on-plateau notebook, rewritten with statefulsched, on scikit-learn's digits.

optax's example notebook for `optax.contrib.reduce_on_plateau` trains an MLP with Adam
and scales its updates by a plateau schedule in two ways. Both are reproduced here with
`ss.ReduceLROnPlateau`, and in each run the same loss values are also fed to
`optax.contrib.reduce_on_plateau`, as a reference whose scale is compared with ours:

(a) **Inside the optimizer, on the training loss averaged over N updates**
    (`--workflow train`):

        sched = ss.ReduceLROnPlateau(1.0, factor=0.5, patience=PATIENCE - 1, threshold=1e-4, eps=0.0)
        optim = optax.chain(optax.adam(0.01), ss.optax.scale_by_scheduler(sched, accumulation_size=N))
        updates, opt_state = optim.update(grads, opt_state, params, value=loss)

    The notebook averages over N=200 of Fashion-MNIST's 468 batches per epoch, a bit under
    half an epoch. Digits has 44 batches of 32 per epoch, so the default here is N=22:
    half an epoch, about 700 training images per averaged value.

(b) **Outside the optimizer, once per epoch, on the test loss** (`--workflow test`):
    the jitted train step takes the scale `sched.lr` as an argument and multiplies
    Adam's updates by it; after each epoch, in plain Python, `sched = sched.step(test_loss)`.

The correspondence with optax's parameters is `patience -> patience - 1` (optax reduces
after `patience` values without improvement, torch after more than `patience`),
`rtol -> threshold` (with `threshold_mode="rel"`), `min_scale -> min_lr`, and `eps=0.0`
(torch's default `eps=1e-8` skips reductions smaller than that, which matters for scales
near 1e-8). The scales then agree exactly. In (a) one thing differs by design: optax
applies a reduction to the update whose loss triggered it, `scale_by_scheduler` (like
torch's `optimizer.step(); scheduler.step(loss)`) from the next update on.

The data is `sklearn.datasets.load_digits` (1797 8x8 images, bundled with scikit-learn),
split 80/20 into train and test sets. Run it with

    python examples/optax_plateau.py                # both workflows, 50 epochs each
    python examples/optax_plateau.py --workflow test --epochs 30
    python examples/optax_plateau.py --quick        # a few seconds: tiny model, 12 epochs
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

import statefulsched as ss

LEARNING_RATE = 0.01  # the notebook's Adam learning rate
FACTOR = 0.5
RTOL = 1e-4
COOLDOWN = 0

# Python code in a jitted function runs only while JAX traces it: these count compilations.
traces = collections.Counter()


#
# Data and model
#


def load_data(seed: int):
    """Digits as float32 arrays in [0, 1], split 80/20 (stratified) with a fixed seed."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return (x_train, y_train), (jnp.asarray(x_test), jnp.asarray(y_test))


def batches(x, y, batch_size: int, rng: np.random.Generator):
    """Shuffled minibatches of one shape (the ragged last one is dropped), so the step compiles once."""
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
    return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)


def plateau(patience: int) -> ss.ReduceLROnPlateau:
    """The `ss.ReduceLROnPlateau` scale that behaves like `reduce_on_plateau(patience=patience, ...)`."""
    return ss.ReduceLROnPlateau(
        1.0, mode="min", factor=FACTOR, patience=patience - 1, threshold=RTOL, cooldown=COOLDOWN, eps=0.0
    )


def reference(patience: int, accumulation_size: int) -> optax.GradientTransformationExtraArgs:
    return optax.contrib.reduce_on_plateau(
        factor=FACTOR, patience=patience, rtol=RTOL, cooldown=COOLDOWN, accumulation_size=accumulation_size
    )


def reductions(scales) -> int:
    return int(np.count_nonzero(np.diff(np.concatenate([[1.0], scales])) < 0))


#
# (a) Inside the optimizer, on the averaged training loss
#


def run_train_loss(args, train, test, key) -> dict:
    optim = optax.chain(
        optax.adam(LEARNING_RATE),
        ss.optax.scale_by_scheduler(plateau(args.patience), accumulation_size=args.accumulation_size),
    )
    ref = reference(args.patience, args.accumulation_size)

    @eqx.filter_jit
    def train_step(model, opt_state, ref_state, x, y):
        traces["train_loss"] += 1
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        params = eqx.filter(model, eqx.is_array)
        used = opt_state[1].scheduler.lr  # the scale this update is multiplied by
        updates, opt_state = optim.update(grads, opt_state, params, value=loss)
        model = eqx.apply_updates(model, updates)
        # The reference sees the same loss; its own (scaled) updates are not used.
        _, ref_state = ref.update(grads, ref_state, params, value=loss)
        scales = jnp.stack([used, opt_state[1].scheduler.lr, ref_state.scale])
        return model, opt_state, ref_state, loss, scales

    model = make_model(args.width, args.depth, key)
    params = eqx.filter(model, eqx.is_array)
    opt_state, ref_state = optim.init(params), ref.init(params)

    def one_epoch(state, rng):
        model, opt_state, ref_state = state
        losses, scales = [], []
        for x, y in batches(*train, args.batch_size, rng):
            model, opt_state, ref_state, loss, s = train_step(model, opt_state, ref_state, x, y)
            losses.append(loss)
            scales.append(s)
        return (model, opt_state, ref_state), losses, scales

    def epoch_note(scales):
        return f"scale {scales[-1][1]:.4g} (optax {scales[-1][2]:.4g})"

    out = fit("train_loss", (model, opt_state, ref_state), one_epoch, epoch_note, test, args)
    # Per update: [scale used, our scale after, optax's scale after].
    used, ours, theirs = out.pop("scales").T
    out.update(
        scale_used=used.tolist(),
        scale=ours.tolist(),
        optax_scale=theirs.tolist(),
        scales_agree=bool(np.array_equal(ours, theirs)),
        # The documented offset: update k is scaled by optax's scale after update k - 1.
        offset_agrees=bool(np.array_equal(used, np.concatenate([[1.0], theirs[:-1]]))),
        reductions=reductions(ours),
        optax_reductions=reductions(theirs),
    )
    return out


#
# (b) Outside the optimizer, once per epoch, on the test loss
#


def run_test_loss(args, train, test, key) -> dict:
    solver = optax.adam(LEARNING_RATE)
    sched = plateau(args.patience)
    ref = reference(args.patience, 1)

    @eqx.filter_jit
    def train_step(model, solver_state, scale, x, y):
        traces["test_loss"] += 1
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        updates, solver_state = solver.update(grads, solver_state, eqx.filter(model, eqx.is_array))
        # The scale is an argument (a float32 array), so a new value does not retrace. With
        # `optax.inject_hyperparams(optax.adam)(learning_rate=...)` one would instead write the
        # lr of `ss.ReduceLROnPlateau(LEARNING_RATE, ...)` with `ss.optax.set_hyperparams`.
        updates = optax.tree.scale(scale, updates)
        return eqx.apply_updates(model, updates), solver_state, loss

    ref_update = jax.jit(lambda state, value: ref.update(None, state, value=value)[1])

    model = make_model(args.width, args.depth, key)
    params = eqx.filter(model, eqx.is_array)
    solver_state, ref_state = solver.init(params), ref.init(params)

    def one_epoch(state, rng):
        model, solver_state, sched, ref_state = state
        losses = []
        for x, y in batches(*train, args.batch_size, rng):
            model, solver_state, loss = train_step(model, solver_state, sched.lr, x, y)
            losses.append(loss)
        test_loss, _ = evaluate(model, *test)
        # The step the notebook does with `transform.update(..., value=test_loss)`. (The
        # notebook passes the test loss measured before the epoch; here it is the one after.)
        sched = sched.step(test_loss)
        ref_state = ref_update(ref_state, test_loss)
        return (model, solver_state, sched, ref_state), losses, [jnp.stack([sched.lr, ref_state.scale])]

    def epoch_note(scales):
        return f"scale for next epoch {scales[-1][0]:.4g} (optax {scales[-1][1]:.4g})"

    out = fit("test_loss", (model, solver_state, sched, ref_state), one_epoch, epoch_note, test, args)
    ours, theirs = out.pop("scales").T  # per epoch, after stepping on its test loss
    out.update(
        scale=ours.tolist(),
        optax_scale=theirs.tolist(),
        scales_agree=bool(np.array_equal(ours, theirs)),
        reductions=reductions(ours),
        optax_reductions=reductions(theirs),
    )
    return out


#
# The loop shared by both
#


def fit(name, state, one_epoch, epoch_note, test, args) -> dict:
    rng = np.random.default_rng(args.seed)
    traces_before = traces[name]
    history, all_scales = [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        state, losses, scales = one_epoch(state, rng)
        test_loss, test_acc = jax.device_get(evaluate(state[0], *test))
        scales = np.asarray(jax.device_get(scales), np.float64)
        all_scales.append(scales)
        train_loss = float(np.mean(jax.device_get(losses)))
        history.append(dict(epoch=epoch, train_loss=train_loss, test_loss=float(test_loss), test_acc=float(test_acc)))
        if args.verbose:
            print(
                f"[{name}] epoch {epoch:3d}  train loss {train_loss:.4f}  test loss {float(test_loss):.4f}  "
                f"test acc {float(test_acc):6.2%}  {epoch_note(scales)}"
            )
    seconds = time.perf_counter() - start
    return dict(
        test_acc=history[-1]["test_acc"],
        test_loss=history[-1]["test_loss"],
        history=history,
        scales=np.concatenate(all_scales),
        seconds=seconds,
        compilations=traces[name] - traces_before,
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflow", choices=("train", "test", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=None, help="default: 50, or 12 with --quick")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=None, help="optax's patience; default: 5, or 2 with --quick")
    parser.add_argument(
        "--accumulation-size", type=int, default=None, help="N for (a); default: half an epoch of batches"
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings that finish in a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 12 if args.quick else 50
    if args.patience is None:
        args.patience = 2 if args.quick else 5
    args.width, args.depth = (32, 1) if args.quick else (128, 2)
    if args.epochs < 1 or args.batch_size < 1 or args.patience < 1:
        parser.error("--epochs, --batch-size and --patience must be at least 1")
    return args


def main(argv=None) -> dict:
    """Run the workflows; return one summary per run, under "train_loss" (a) and "test_loss" (b).

    Each has the final `test_acc` and `test_loss`, the per-epoch `history`, our `scale`
    and optax's `optax_scale` (per update for (a), per epoch for (b)), whether they agree
    (`scales_agree`; for (a) also `offset_agrees`: update k was scaled by optax's scale after
    update k - 1), the number of `reductions`, the wall time in `seconds` and how many times
    the train step was compiled (`compilations`).
    """
    args = parse_args(argv)
    train, test = load_data(args.seed)
    steps_per_epoch = len(train[0]) // args.batch_size
    if steps_per_epoch < 1:
        raise SystemExit(f"--batch-size must be at most the training set size, {len(train[0])}")
    if args.accumulation_size is None:
        args.accumulation_size = max(1, steps_per_epoch // 2)
    print(
        f"digits: {len(train[0])} train / {len(test[0])} test images; MLP 64 -> "
        f"{'x'.join([str(args.width)] * args.depth)} -> 10; Adam lr {LEARNING_RATE}; {args.epochs} epochs of "
        f"{steps_per_epoch} batches of {args.batch_size}; plateau factor {FACTOR}, patience {args.patience} "
        f"(optax) = {args.patience - 1} (torch), rtol {RTOL}"
    )
    key_a, key_b = jax.random.split(jax.random.key(args.seed))
    summary = {}
    if args.workflow in ("train", "both"):
        summary["train_loss"] = run_train_loss(args, train, test, key_a)
        describe(
            f"(a) in the optimizer chain, on the training loss averaged over N={args.accumulation_size} updates",
            summary["train_loss"],
            "one update later than optax's, as documented" if summary["train_loss"]["offset_agrees"] else "MISMATCH",
        )
    if args.workflow in ("test", "both"):
        summary["test_loss"] = run_test_loss(args, train, test, key_b)
        describe("(b) stepped once per epoch on the test loss", summary["test_loss"], None)
    return summary


def describe(title: str, run: dict, offset: str | None) -> None:
    agree = "agree exactly" if run["scales_agree"] else "DIFFER"
    per_epoch = len(run["scale"]) // len(run["history"])  # scale values per epoch: 1 for (b)
    cut = np.flatnonzero(np.diff(np.concatenate([[1.0], run["scale"]])) < 0) // per_epoch + 1
    print(f"{title}:")
    print(
        f"    test acc {run['test_acc']:.2%}, test loss {run['test_loss']:.4f}; scale cut {run['reductions']}x "
        f"(epochs: {', '.join(map(str, cut)) or 'none'}) to {run['scale'][-1]:.4g}"
    )
    print(
        f"    scales vs optax.contrib.reduce_on_plateau's ({len(run['scale'])} values, "
        f"{run['optax_reductions']}x cut): {agree}" + (f"; applied {offset}" if offset else "")
    )
    print(f"    {run['seconds']:.1f}s, train step compiled {run['compilations']}x")


if __name__ == "__main__":
    main()
