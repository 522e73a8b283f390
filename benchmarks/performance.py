"""Performance of statefulsched beside torch and optax (issue 5): five sections, one process.

1. **Inside jit.** A jitted MLP train step (784-256-256-10, batch 128, Adam through
   `optax.inject_hyperparams`) with the scheduler stepped inside it, against the same step
   with a fixed lr and with optax's own schedule (function, or `reduce_on_plateau`). Ours in
   two ways: `sched.step(loss)` + `ss.optax.set_hyperparams(opt_state, sched)` in the step,
   and the scheduler as optax's stateful schedule (`inject_hyperparams(adam)(learning_rate=sched)`).
2. **Whole curve.** The N-step lr curve: a torch loop (`sched.step()` + `get_last_lr()`),
   optax's schedule function vmapped over the counts, ours through `values(sched, N)` and
   through a jitted `lax.scan` of `sched.step()`.
3. **Sweeps.** K schedulers with different hyperparameters built with `jax.vmap` and stepped
   together for T steps in one jitted `lax.scan`, against K torch schedulers stepped in a
   Python loop (measured on a subset, reported per scheduler-step).
4. **Memory.** RSS and `tracemalloc` over many eager steps after a warm-up, and the size of
   the scheduler state.
5. **Unrolled scans.** A jitted `lax.scan` of `step` emitting the lr, at `unroll` 1 to 16, beside
   a scan of optax's schedule function, with the number of operations in the compiled loop body.

Every timed quantity is measured in rounds: each round runs one block of every variant of
the section, in an order rotating from round to round, so machine noise hits all alike;
figures are medians over rounds, with the min-max range. JAX blocks end with
`block_until_ready`. Compilations during the timed rounds are counted (expected: 0).

    python benchmarks/performance.py                  # the sizes of the issue (several minutes)
    python benchmarks/performance.py --quick          # smoke run, small sizes
    python benchmarks/performance.py --json out.json  # also dump the raw numbers
    python benchmarks/performance.py --sections unroll  # a subset: train, curve, sweep, memory, unroll
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import json
import math
import os
import re
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402
from _machine import machine_info  # noqa: E402
from jax import lax  # noqa: E402
from torch.optim import lr_scheduler as tls  # noqa: E402
from torch.optim import swa_utils  # noqa: E402

import statefulsched as ss  # noqa: E402
from statefulsched._curve import closed_form, values  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    train_steps: int  # train steps per timed block (section 1)
    train_rounds: int
    curve_n: int  # N of section 2
    curve_torch_n: int  # steps of the torch curve loop
    curve_repeats: int  # calls per JAX block (the N-step curve takes milliseconds)
    curve_rounds: int
    sweep_k: int  # K of section 3
    sweep_t: int  # T of section 3
    sweep_torch_k: int  # the torch subset
    sweep_torch_t: int
    sweep_rounds: int
    memory_steps: int  # section 4
    memory_warmup: int
    overhead_steps: int  # train steps per timed block of the small MLP (section 1, per-call overhead)
    overhead_rounds: int


FULL = Sizes(20, 60, 100_000, 100_000, 5, 5, 10_000, 1_000, 10_000, 20, 5, 100_000, 2_000, 200, 30)
QUICK = Sizes(10, 3, 10_000, 2_000, 3, 3, 1_000, 100, 100, 20, 3, 10_000, 500, 50, 3)


# --------------------------------------------------------------------------------------
# Shared machinery: interleaved rounds, compile counting, summaries.
# --------------------------------------------------------------------------------------

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compiles():
    counts: collections.Counter = collections.Counter()

    def listener(event, duration, **kwargs):
        del duration
        if event == _BACKEND_COMPILE:
            counts[kwargs.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def interleaved(blocks: dict[Any, Callable[[], float]], rounds: int) -> tuple[dict[Any, list[float]], int]:
    """Run every block once per round, the order rotating; returns the times and the compilations seen.

    Each block returns its own figure (seconds per unit); blocks are warmed up first.
    """
    keys = list(blocks)
    for key in keys:
        blocks[key]()
    gc.collect()
    times: dict[Any, list[float]] = {key: [] for key in keys}
    with count_compiles() as compiles:
        for r in range(rounds):
            shift = r % len(keys)
            for key in keys[shift:] + keys[:shift]:
                times[key].append(blocks[key]())
    return times, sum(compiles.values())


def med(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def fmt(x: float | None, spec: str = ".1f", scale: float = 1.0) -> str:
    return "—" if x is None else format(x * scale, spec)


def fmt_range(xs: list[float] | None, spec: str = ".1f", scale: float = 1.0) -> str:
    if not xs:
        return "—"
    return f"{format(med(xs) * scale, spec)} ({format(min(xs) * scale, spec)}–{format(max(xs) * scale, spec)})"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def fmt_ratio(x: float | None, spec: str = ".2f") -> str:
    if x is None:
        return "—"
    return format(x, ".0f" if x >= 100 else spec) + "×"


def torch_optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


# --------------------------------------------------------------------------------------
# 1. Inside jit: a jitted MLP train step.
# --------------------------------------------------------------------------------------

TRAIN_TOTAL = 10_000  # the schedules' length; every timed block restarts from step 0
LR = 1e-3


MLP = (784, 256, 256, 10)  # the issue's MLP, batch 128
SMALL_MLP = (16, 16, 10)  # for the per-call overhead: a step of about 0.1 ms, batch 8


def init_mlp(key: jax.Array, sizes: tuple[int, ...] = MLP) -> list[tuple[jax.Array, jax.Array]]:
    params = []
    for din, dout, k in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1)):
        params.append((jax.random.normal(k, (din, dout), jnp.float32) * (2.0 / din) ** 0.5, jnp.zeros(dout)))
    return params


def mlp_loss(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@dataclass
class TrainVariant:
    name: str
    init: Any  # the train state at step 0
    step: Callable  # jitted: (state, x, y) -> (state, loss)


def train_variants(mlp: tuple[int, ...] = MLP) -> dict[str | None, list[TrainVariant]]:
    """The train steps, by scheduler; the fixed-lr step under the key `None`."""
    params = init_mlp(jax.random.PRNGKey(0), mlp)

    def plain(opt, extra_value: bool = False):
        def step(state, x, y):
            params, opt_state = state
            loss, grads = jax.value_and_grad(mlp_loss)(params, x, y)
            kwargs = {"value": loss} if extra_value else {}
            updates, opt_state = opt.update(grads, opt_state, params, **kwargs)
            return (optax.apply_updates(params, updates), opt_state), loss

        return jax.jit(step), (params, opt.init(params))

    def bridged(sched, stepped: bool = True, checked: bool = False, closed: bool = False):
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched.lr)
        # `closed`: only the scheduler's state is carried, its configuration closed over.
        carried, config = ss.partition(sched) if closed else (sched, None)

        def step(state, x, y):
            params, opt_state, sched = state
            if closed:
                sched = ss.combine(sched, config)
            loss, grads = jax.value_and_grad(mlp_loss)(params, x, y)
            updates, opt_state = opt.update(grads, opt_state, params)
            if stepped:  # else only carried through the step (diagnostic)
                sched = sched.step(loss)  # the metric-free schedulers ignore the loss
                if checked:
                    # Diagnostic: OneCycleLR's past-the-end check as a host callback in the
                    # program (`eqx.error_if`), which a traced step leaves out.
                    past_end = sched.last_epoch > sched.total_steps
                    sched = eqx.tree_at(lambda s: s.lr, sched, eqx.error_if(sched.lr, past_end, "past the end"))
                opt_state = ss.optax.set_hyperparams(opt_state, sched)
            if closed:
                sched, _ = ss.partition(sched)
            return (optax.apply_updates(params, updates), opt_state, sched), loss

        return jax.jit(step), (params, opt.init(params), carried)

    schedulers = {
        "OneCycleLR": (
            lambda: ss.OneCycleLR(LR, total_steps=TRAIN_TOTAL),
            optax.cosine_onecycle_schedule(TRAIN_TOTAL, LR),
            "cosine_onecycle_schedule",
        ),
        "CosineAnnealingLR": (
            lambda: ss.CosineAnnealingLR(LR, T_max=TRAIN_TOTAL),
            optax.cosine_decay_schedule(LR, TRAIN_TOTAL),
            "cosine_decay_schedule",
        ),
        "SequentialLR(LinearLR, CosineAnnealingLR)": (
            lambda: ss.SequentialLR(
                [
                    ss.LinearLR(LR, start_factor=0.01, total_iters=100),
                    ss.CosineAnnealingLR(LR, T_max=TRAIN_TOTAL - 100),
                ],
                milestones=[100],
            ),
            optax.warmup_cosine_decay_schedule(LR / 100, LR, 100, TRAIN_TOTAL),
            "warmup_cosine_decay_schedule",
        ),
        "ReduceLROnPlateau (fed the loss)": (
            lambda: ss.ReduceLROnPlateau(LR, patience=10),
            None,
            "contrib.reduce_on_plateau",
        ),
    }
    fixed_step, fixed_init = plain(optax.inject_hyperparams(optax.adam)(learning_rate=LR))
    out: dict[str | None, list[TrainVariant]] = {None: [TrainVariant("fixed lr", fixed_init, fixed_step)]}
    for name, (build, fn, optax_name) in schedulers.items():
        plateau = fn is None
        if plateau:
            opt = optax.chain(
                optax.inject_hyperparams(optax.adam)(learning_rate=LR), optax.contrib.reduce_on_plateau(patience=10)
            )
        else:
            opt = optax.inject_hyperparams(optax.adam)(learning_rate=fn)
        step, init = plain(opt, extra_value=plateau)
        stateful_step, stateful_init = plain(optax.inject_hyperparams(optax.adam)(learning_rate=build()), plateau)
        bridged_step, bridged_init = bridged(build())
        closed_step, closed_init = bridged(build(), closed=True)
        out[name] = [
            TrainVariant(f"optax {optax_name}", init, step),
            TrainVariant("ours, set_hyperparams", bridged_init, bridged_step),
            TrainVariant("ours, set_hyperparams, configuration closed over [p]", closed_init, closed_step),
            TrainVariant("ours, stateful schedule [s]", stateful_init, stateful_step),
        ]
        if closed_form(build()):  # a plain `count -> lr` function, as optax's own schedules are
            schedule = ss.optax.to_schedule(build())
            to_step, to_init = plain(optax.inject_hyperparams(optax.adam)(learning_rate=schedule))
            out[name].append(TrainVariant("ours, to_schedule", to_init, to_step))
        if name == "OneCycleLR":
            carried_step, carried_init = bridged(build(), stepped=False)
            out[name].append(TrainVariant("fixed lr, scheduler carried, not stepped [e]", carried_init, carried_step))
            checked_step, checked_init = bridged(build(), checked=True)
            label = "ours, set_hyperparams, with a runtime check [g]"
            out[name].append(TrainVariant(label, checked_init, checked_step))
    return out


def paired_rounds(mlp: tuple[int, ...], batch: int, steps: int, rounds: int) -> dict:
    """Every variant's blocks of `steps` train steps, each next to a block of the fixed-lr step.

    Ratios (and differences) from adjacent blocks are far less noisy than those of medians
    on a shared machine. Returns the rows of the table and the compilations seen.
    """
    key_x, key_y = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.normal(key_x, (batch, mlp[0]), jnp.float32)
    y = jax.random.randint(key_y, (batch,), 0, mlp[-1])
    variants = train_variants(mlp)
    (fixed,) = variants.pop(None)
    dispatch: dict[str, list[float]] = collections.defaultdict(list)

    def block(v: TrainVariant) -> float:
        state = v.init
        t0 = time.perf_counter()
        for _ in range(steps):
            state, loss = v.step(state, x, y)
        t1 = time.perf_counter()  # the Python loop is done: all steps dispatched
        jax.block_until_ready((state, loss))
        t2 = time.perf_counter()
        dispatch[v.name].append((t1 - t0) / (t2 - t0))
        return (t2 - t0) / steps

    pairs = [(sched, v) for sched, vs in variants.items() for v in vs]
    for _, v in [(None, fixed), *pairs]:  # compile, warm up
        block(v)
        block(v)
    dispatch.clear()
    gc.collect()
    times: dict[tuple, list[float]] = collections.defaultdict(list)
    with count_compiles() as compiles:
        for r in range(rounds):
            shift = r % len(pairs)
            for sched, v in pairs[shift:] + pairs[:shift]:
                # Alternate which of the pair goes first, so a drift in machine speed cancels out.
                if r % 2:
                    t_v, t_f = block(v), block(fixed)
                else:
                    t_f, t_v = block(fixed), block(v)
                times[(sched, v.name)].append(t_v)
                times[(sched, v.name, "fixed")].append(t_f)
    rows = [
        {
            "scheduler": None,
            "variant": fixed.name,
            "s_per_step": [t for key, ts in times.items() if len(key) == 3 for t in ts],
            "ratio_to_fixed": None,
            "s_over_fixed": None,
            "dispatch_fraction": dispatch[fixed.name],
        }
    ]
    for sched, v in pairs:
        ts, fs = times[(sched, v.name)], times[(sched, v.name, "fixed")]
        rows.append(
            {
                "scheduler": sched,
                "variant": v.name,
                "s_per_step": ts,
                "ratio_to_fixed": [t / f for t, f in zip(ts, fs)],
                "s_over_fixed": [t - f for t, f in zip(ts, fs)],
                "dispatch_fraction": dispatch[v.name],
            }
        )
    return {"rows": rows, "compiles_during_timing": sum(compiles.values())}


def section_train(sizes: Sizes) -> dict:
    """The issue's MLP step beside the fixed-lr step; then what each variant adds per call, on a
    small MLP whose step is short enough for that to be measured to about a microsecond."""
    main = paired_rounds(MLP, 128, sizes.train_steps, sizes.train_rounds)
    small = paired_rounds(SMALL_MLP, 8, sizes.overhead_steps, sizes.overhead_rounds)
    return {
        "rows": main["rows"],
        "overhead_rows": small["rows"],
        "compiles_during_timing": main["compiles_during_timing"] + small["compiles_during_timing"],
    }


def overhead_bound(result: dict, row: dict) -> float | None:
    """1 + (what the variant adds per call on the small MLP) / (the fixed-lr step of the issue's MLP).

    What a scheduler adds to a call (flattening and passing its arrays, a few scalar operations)
    does not depend on the model, so this bounds the ratio the issue's MLP step can show, with
    a precision its own ratios cannot reach on this machine.
    """
    small = {(r["scheduler"], r["variant"]): r for r in result["overhead_rows"]}.get((row["scheduler"], row["variant"]))
    if small is None or not small["s_over_fixed"]:
        return None
    return 1 + med(small["s_over_fixed"]) / med(result["rows"][0]["s_per_step"])


def report_train(result: dict, sizes: Sizes) -> str:
    small = {(r["scheduler"], r["variant"]): r for r in result["overhead_rows"]}
    lines = [
        "| scheduler | variant | µs / train step | ratio to fixed lr, median (min–max) "
        "| added per call, small MLP, µs [o] | bound on the ratio [o] | dispatch [d] |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        sched = row["scheduler"] or "—"
        added = small.get((row["scheduler"], row["variant"]))
        if added is None or added["s_over_fixed"] is None:
            added_s = "—" if row["scheduler"] else f"(step: {fmt(med(added['s_per_step']), '.0f', 1e6)})"
        else:
            q = np.percentile(added["s_over_fixed"], [25, 75]) * 1e6
            added_s = f"{fmt(med(added['s_over_fixed']), '.1f', 1e6)} ({q[0]:.1f} to {q[1]:.1f})"
        bound = overhead_bound(result, row) if row["scheduler"] else None
        lines.append(
            f"| {sched} | {row['variant']} | {fmt_range(row['s_per_step'], '.0f', 1e6)} "
            f"| {fmt_range(row['ratio_to_fixed'], '.3f')} | {added_s} | {fmt(bound, '.3f')} "
            f"| {fmt(med(row['dispatch_fraction']), '.0%')} |"
        )
    lines += [
        "",
        f"{sizes.train_rounds} rounds; in each, every variant runs a block of {sizes.train_steps} train steps "
        "next to a block of the fixed-lr step (which goes first alternating from round to round); ratio = the "
        "variant's block over its fixed-lr neighbour. µs: median (min–max) over rounds; the fixed-lr row pools "
        f"all its blocks. Compilations during the timed rounds: {result['compiles_during_timing']}.",
        f"[o] what the variant adds to a call, measured on a small MLP ({'-'.join(map(str, SMALL_MLP))}, batch 8) "
        f"whose step is short enough to resolve it: {sizes.overhead_rounds} rounds of paired blocks of "
        f"{sizes.overhead_steps} steps, the variant's block minus its fixed-lr neighbour, per step; median "
        "(interquartile range). What a scheduler adds to a call (flattening and passing its arrays, a few scalar "
        "operations) does not depend on the model, so 1 + added / (the fixed-lr step of the MLP above) bounds "
        "the ratio of the MLP above to about ±0.01, where its own ratios scatter by ±0.2 from block to block "
        "(the host work overlaps the computation of the previous step, so the bound is pessimistic).",
        "[p] `ss.partition`: the train step carries only the scheduler's state (3 arrays for OneCycleLR, 5 for "
        "ReduceLROnPlateau) and closes over its configuration, as optax's own schedules close over theirs.",
        "[s] the scheduler inside the optimizer state (`learning_rate=sched`): optax carries its state "
        "`NamedTuple` (`ss.partition`) and closes over its configuration.",
        "[e] diagnostic: the fixed-lr step with the scheduler passed in and returned untouched: what passing "
        "its 13 arrays through `jax.jit` costs (flattening, argument handling, output buffers), on this 2-core "
        "machine taken from the computation.",
        "[g] diagnostic: the step traced with OneCycleLR's past-the-end check (an `eqx.error_if`, i.e. a host "
        "callback), which only the eager `step` compiles in: what such a check costs in a train step.",
        "[d] the share of a block's time spent before its Python loop returns: the rest is waiting for the "
        "last results. Near 100% would mean every call waited for its result, so the Python work of a call "
        "(flattening the train state) no longer overlapped the computation of the previous one, as happens "
        "when a host callback (an `eqx.error_if` check) sits at the end of the program.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# 2. Whole curve.
# --------------------------------------------------------------------------------------


@dataclass
class CurveCase:
    name: str
    ours: Callable[[int], ss.AbstractScheduler]  # N -> scheduler
    torch: Callable[[torch.optim.Optimizer, int], Any] | None  # (optimizer, N) -> torch scheduler
    optax: Callable[[int], Callable] | None  # N -> schedule function; None: no optax equivalent
    optax_name: str = ""


def _inverse_time(t):
    return 1.0 / (1.0 + t / 1000.0)


def _constant_factor(t):
    del t
    return 0.99999


def curve_cases() -> list[CurveCase]:
    def sequential_ours(n):
        return ss.SequentialLR(
            [ss.LinearLR(0.1, start_factor=0.01, total_iters=1000), ss.CosineAnnealingLR(0.1, T_max=n - 1000)],
            milestones=[1000],
        )

    def sequential_torch(o, n):
        return tls.SequentialLR(
            o,
            [tls.LinearLR(o, start_factor=0.01, total_iters=1000), tls.CosineAnnealingLR(o, T_max=n - 1000)],
            milestones=[1000],
        )

    def chained_ours(n):
        return ss.ChainedScheduler([ss.ConstantLR(0.1, factor=0.5, total_iters=1000), ss.ExponentialLR(0.1, 0.99999)])

    def chained_torch(o, n):
        return tls.ChainedScheduler(
            [tls.ConstantLR(o, factor=0.5, total_iters=1000), tls.ExponentialLR(o, gamma=0.99999)]
        )

    def quarters(n):
        return [n // 4, n // 2, 3 * n // 4]

    def sgdr(n):  # optax's warm restarts: one cosine per period, as many periods as cover n steps
        periods = math.ceil(math.log2(n / 1000 + 1))
        return optax.sgdr_schedule(
            [
                dict(init_value=0.1, peak_value=0.1, warmup_steps=0, decay_steps=1000 * 2**i, end_value=0.0)
                for i in range(periods)
            ]
        )

    return [
        CurveCase(
            "StepLR(step_size=1000, gamma=0.5)",
            lambda n: ss.StepLR(0.1, 1000, 0.5),
            lambda o, n: tls.StepLR(o, 1000, 0.5),
            lambda n: optax.exponential_decay(0.1, 1000, 0.5, staircase=True),
            "exponential_decay(staircase)",
        ),
        CurveCase(
            "MultiStepLR(3 milestones)",
            lambda n: ss.MultiStepLR(0.1, quarters(n), 0.1),
            lambda o, n: tls.MultiStepLR(o, quarters(n), 0.1),
            lambda n: optax.piecewise_constant_schedule(0.1, dict.fromkeys(quarters(n), 0.1)),
            "piecewise_constant_schedule",
        ),
        CurveCase(
            "ConstantLR(factor=0.5, total_iters=1000)",
            lambda n: ss.ConstantLR(0.1, 0.5, 1000),
            lambda o, n: tls.ConstantLR(o, 0.5, 1000),
            lambda n: optax.piecewise_constant_schedule(0.05, {1000: 2.0}),
            "piecewise_constant_schedule",
        ),
        CurveCase(
            "LinearLR(total_iters=N)",
            lambda n: ss.LinearLR(0.1, 0.01, 1.0, n),
            lambda o, n: tls.LinearLR(o, 0.01, 1.0, n),
            lambda n: optax.linear_schedule(0.001, 0.1, n),
            "linear_schedule",
        ),
        CurveCase(
            "ExponentialLR(gamma=0.99999)",
            lambda n: ss.ExponentialLR(0.1, 0.99999),
            lambda o, n: tls.ExponentialLR(o, 0.99999),
            lambda n: optax.exponential_decay(0.1, 1, 0.99999),
            "exponential_decay",
        ),
        CurveCase(
            "PolynomialLR(total_iters=N, power=2)",
            lambda n: ss.PolynomialLR(0.1, n, 2.0),
            lambda o, n: tls.PolynomialLR(o, n, 2.0),
            lambda n: optax.polynomial_schedule(0.1, 0.0, 2, n),
            "polynomial_schedule",
        ),
        CurveCase(
            "CosineAnnealingLR(T_max=N)",
            lambda n: ss.CosineAnnealingLR(0.1, n),
            lambda o, n: tls.CosineAnnealingLR(o, n),
            lambda n: optax.cosine_decay_schedule(0.1, n),
            "cosine_decay_schedule",
        ),
        CurveCase(
            "CosineAnnealingWarmRestarts(T_0=1000, T_mult=2)",
            lambda n: ss.CosineAnnealingWarmRestarts(0.1, 1000, 2),
            lambda o, n: tls.CosineAnnealingWarmRestarts(o, 1000, 2),
            sgdr,
            "sgdr_schedule",
        ),
        CurveCase(
            "CyclicLR(step_size_up=2000)",
            lambda n: ss.CyclicLR(0.01, 0.1, 2000),
            lambda o, n: tls.CyclicLR(o, 0.01, 0.1, 2000),
            None,
        ),
        CurveCase(
            "OneCycleLR(total_steps=N+1)",
            lambda n: ss.OneCycleLR(0.1, total_steps=n + 1),
            lambda o, n: tls.OneCycleLR(o, 0.1, total_steps=n + 1),
            lambda n: optax.cosine_onecycle_schedule(n + 1, 0.1),
            "cosine_onecycle_schedule",
        ),
        CurveCase(
            "LambdaLR(1 / (1 + t/1000))",
            lambda n: ss.LambdaLR(0.1, _inverse_time),
            lambda o, n: tls.LambdaLR(o, _inverse_time),
            None,
        ),
        CurveCase(
            "MultiplicativeLR(0.99999)",
            lambda n: ss.MultiplicativeLR(0.1, _constant_factor),
            lambda o, n: tls.MultiplicativeLR(o, _constant_factor),
            None,
        ),
        CurveCase(
            "SWALR(anneal_epochs=1000)",
            lambda n: ss.SWALR(0.1, 0.01, 1000),
            lambda o, n: swa_utils.SWALR(o, 0.01, 1000),
            None,
        ),
        CurveCase(
            "SequentialLR(LinearLR, CosineAnnealingLR)",
            sequential_ours,
            sequential_torch,
            lambda n: optax.warmup_cosine_decay_schedule(0.001, 0.1, 1000, n),
            "warmup_cosine_decay_schedule",
        ),
        CurveCase("ChainedScheduler(ConstantLR, ExponentialLR)", chained_ours, chained_torch, None),
        CurveCase(
            "ss.optax.WarmupCosineDecaySchedule",
            lambda n: ss.optax.WarmupCosineDecaySchedule(0.0, 0.1, 1000, n),
            None,
            lambda n: optax.warmup_cosine_decay_schedule(0.0, 0.1, 1000, n),
            "warmup_cosine_decay_schedule",
        ),
    ]


# The reference for the rows without an optax equivalent.
GENERIC_OPTAX = "warmup_cosine_decay_schedule"


def folded_curve(sched: ss.AbstractScheduler, n: int) -> Callable[[Any], jax.Array]:
    """`values(sched, n)` with the scheduler closed over by `jax.jit`: its arrays become constants
    that XLA folds into the program (compiled once per scheduler rather than per configuration)."""
    compiled = jax.jit(lambda: values(sched, n))
    return lambda _: compiled()


def section_curve(sizes: Sizes) -> dict:
    n, n_torch, repeats = sizes.curve_n, sizes.curve_torch_n, sizes.curve_repeats
    cases = curve_cases()

    def jax_block(fn, arg, per) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(repeats):
                out = fn(arg)
            jax.block_until_ready(out)
            return (time.perf_counter() - t0) / (repeats * per)

        return run

    def torch_block(build) -> Callable[[], float]:
        def run() -> float:
            optimizer = torch_optimizer()
            sched = build(optimizer, n)
            optimizer.step()
            lrs = []
            t0 = time.perf_counter()
            for _ in range(n_torch):
                sched.step()
                lrs.append(sched.get_last_lr()[0])
            return (time.perf_counter() - t0) / n_torch

        return run

    counts = jnp.arange(n)
    blocks: dict[tuple[str, str], Callable[[], float]] = {}
    generic = jax.jit(jax.vmap(optax.warmup_cosine_decay_schedule(0.0, 0.1, 1000, n)))
    blocks[("generic optax", "optax")] = jax_block(generic, counts, n)

    @jax.jit
    def scan_floor(count):  # what any `lax.scan` emitting one value per iteration pays
        return lax.scan(lambda c, _: (c + 1, c.astype(jnp.float32)), count, None, length=n)[1]

    blocks[("scan floor", "scan")] = jax_block(scan_floor, jnp.int32(0), n)
    for case in cases:
        sched = case.ours(n)
        if case.torch is not None:
            blocks[(case.name, "torch")] = torch_block(case.torch)
        if case.optax is not None:
            blocks[(case.name, "optax")] = jax_block(jax.jit(jax.vmap(case.optax(n))), counts, n)
        blocks[(case.name, "values")] = jax_block(lambda s: values(s, n), sched, n)
        blocks[(case.name, "folded")] = jax_block(folded_curve(sched, n), None, n)

        @jax.jit
        def scan_step(s):
            return lax.scan(lambda s, _: (s.step(), s.lr), s, None, length=n)[1]

        blocks[(case.name, "scan")] = jax_block(scan_step, sched, n)
    times, compiles = interleaved(blocks, sizes.curve_rounds)
    generic_s = med(times[("generic optax", "optax")])
    rows = []
    for case in cases:
        impls = ("torch", "optax", "values", "folded", "scan")
        t = {impl: times.get((case.name, impl)) for impl in impls}
        optax_ref = med(t["optax"]) if t["optax"] else generic_s
        rows.append(
            {
                "case": case.name,
                "optax_equivalent": case.optax_name or None,
                "s_per_step": t,
                "values_over_optax": ratio(med(t["values"]), optax_ref),
                "folded_over_optax": ratio(med(t["folded"]), optax_ref),
                "scan_over_optax": ratio(med(t["scan"]), optax_ref),
                "torch_over_values": ratio(med(t["torch"]), med(t["values"])),
                "torch_over_scan": ratio(med(t["torch"]), med(t["scan"])),
            }
        )
    return {
        "rows": rows,
        "generic_optax_s_per_step": times[("generic optax", "optax")],
        "scan_floor_s_per_step": times[("scan floor", "scan")],
        "compiles_during_timing": compiles,
    }


def report_curve(result: dict, sizes: Sizes) -> str:
    lines = [
        "| scheduler | torch µs | optax ns | values ns | values, folded ns [f] | scan(step) ns | values / optax "
        "| folded / optax | scan / optax | torch / values | torch / scan |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        t = row["s_per_step"]
        mark = "" if row["optax_equivalent"] else " [b]"
        lines.append(
            f"| {row['case']} | {fmt(med(t['torch']), '.2f', 1e6)} | {fmt(med(t['optax']), '.1f', 1e9)} "
            f"| {fmt_range(t['values'], '.1f', 1e9)} | {fmt(med(t['folded']), '.1f', 1e9)} "
            f"| {fmt_range(t['scan'], '.1f', 1e9)} "
            f"| {fmt_ratio(row['values_over_optax'])}{mark} | {fmt_ratio(row['folded_over_optax'])}{mark} "
            f"| {fmt_ratio(row['scan_over_optax'])}{mark} "
            f"| {fmt_ratio(row['torch_over_values'], '.0f')} | {fmt_ratio(row['torch_over_scan'], '.0f')} |"
        )
    generic = med(result["generic_optax_s_per_step"])
    lines += [
        "",
        f"Per step of an N = {sizes.curve_n:,} curve; torch: a loop of {sizes.curve_torch_n:,} `sched.step()` + "
        "`get_last_lr()`; optax: `jax.jit(jax.vmap(schedule))(jnp.arange(N))`; values: `values(sched, N)`, "
        "eager; scan(step): `jax.jit` of `lax.scan` of `s.step()`, emitting `s.lr` [l]. Medians over "
        f"{sizes.curve_rounds} rounds (min–max for ours), each JAX block {sizes.curve_repeats} calls.",
        f"[b] no optax equivalent: against optax's `{GENERIC_OPTAX}` vmapped ({fmt(generic, '.1f', 1e9)} ns/step).",
        "[f] `jax.jit(lambda: values(sched, N))()`: the scheduler closed over, so XLA folds its hyperparameters "
        "as constants, as it does optax's (e.g. an integer division by a constant becomes a multiply-shift); "
        "compiled once per scheduler instead of once per configuration.",
        f"[l] a `lax.scan` that only counts and emits the count as a float costs "
        f"{fmt_range(result['scan_floor_s_per_step'], '.1f', 1e9)} ns per iteration: XLA:CPU runs the loop one "
        "iteration at a time, each step's operations in sequence, where optax's function is one vectorised loop "
        "over all the counts.",
        f"Compilations during the timed rounds: {result['compiles_during_timing']}.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# 3. Sweeps.
# --------------------------------------------------------------------------------------


@dataclass
class SweepCase:
    name: str
    ours: Callable[[Any], ss.AbstractScheduler]  # hyperparameter -> scheduler (vmapped)
    hyper: Callable[[int], np.ndarray]  # K -> the K hyperparameter values
    torch: Callable[[torch.optim.Optimizer, Any], Any]  # (optimizer, one value) -> torch scheduler
    metric: bool = False
    optax: Callable[[Any, Any], Any] | None = None  # (value, count) -> lr, to try under vmap
    results: dict = field(default_factory=dict)


def _spread(lo, hi):
    return lambda k: np.linspace(lo, hi, k, dtype=np.float32)


def _ints(lo, hi):
    return lambda k: (lo + np.arange(k) % (hi - lo)).astype(np.int32)


def sweep_cases(t: int) -> list[SweepCase]:
    def milestones(k):
        base = _ints(1, t // 3)(k)
        return np.stack([base, base + t // 3, base + 2 * (t // 3)], axis=1).astype(np.int32)

    def sequential_ours(w):
        return ss.SequentialLR(
            [ss.LinearLR(0.1, start_factor=0.01, total_iters=w), ss.CosineAnnealingLR(0.1, T_max=t)],
            milestones=jnp.stack([w]),
        )

    def sequential_torch(o, w):
        w = int(w)
        return tls.SequentialLR(
            o, [tls.LinearLR(o, start_factor=0.01, total_iters=w), tls.CosineAnnealingLR(o, T_max=t)], milestones=[w]
        )

    return [
        SweepCase(
            "StepLR, gamma",
            lambda g: ss.StepLR(0.1, 30, gamma=g),
            _spread(0.1, 0.99),
            lambda o, g: tls.StepLR(o, 30, gamma=float(g)),
            optax=lambda g, c: optax.exponential_decay(0.1, 30, g, staircase=True)(c),
        ),
        SweepCase(
            "MultiStepLR, 3 milestones",
            lambda ms: ss.MultiStepLR(0.1, ms, 0.5),
            milestones,
            lambda o, ms: tls.MultiStepLR(o, [int(m) for m in ms], 0.5),
        ),
        SweepCase(
            "ExponentialLR, gamma",
            lambda g: ss.ExponentialLR(0.1, g),
            _spread(0.99, 0.9999),
            lambda o, g: tls.ExponentialLR(o, float(g)),
        ),
        SweepCase(
            "CosineAnnealingLR, T_max",
            lambda n: ss.CosineAnnealingLR(0.1, T_max=n),
            _ints(10, t),
            lambda o, n: tls.CosineAnnealingLR(o, T_max=int(n)),
            optax=lambda n, c: optax.cosine_decay_schedule(0.1, n)(c),
        ),
        SweepCase(
            "CosineAnnealingLR, lr",
            lambda lr: ss.CosineAnnealingLR(lr, T_max=t),
            _spread(1e-4, 1.0),
            lambda o, lr: _with_lr(o, float(lr), lambda: tls.CosineAnnealingLR(o, T_max=t)),
            optax=lambda lr, c: optax.cosine_decay_schedule(lr, t)(c),
        ),
        SweepCase(
            "LinearLR warm-up, total_iters",
            lambda n: ss.LinearLR(0.1, start_factor=0.01, total_iters=n),
            _ints(1, t),
            lambda o, n: tls.LinearLR(o, start_factor=0.01, total_iters=int(n)),
        ),
        SweepCase(
            "OneCycleLR, max_lr",
            lambda m: ss.OneCycleLR(m, total_steps=t),
            _spread(0.01, 1.0),
            lambda o, m: tls.OneCycleLR(o, float(m), total_steps=t),
            optax=lambda m, c: optax.cosine_onecycle_schedule(t, m)(c),
        ),
        SweepCase(
            "ReduceLROnPlateau, patience (batch of metrics)",
            lambda p: ss.ReduceLROnPlateau(0.1, patience=p),
            _ints(0, 20),
            lambda o, p: tls.ReduceLROnPlateau(o, patience=int(p)),
            metric=True,
        ),
        SweepCase(
            "SequentialLR(LinearLR, CosineAnnealingLR), milestone",
            sequential_ours,
            _ints(1, t // 2),
            sequential_torch,
        ),
        SweepCase(
            "ss.optax.WarmupCosineDecaySchedule, peak_value",
            lambda p: ss.optax.WarmupCosineDecaySchedule(0.0, p, t // 10, t),
            _spread(0.01, 1.0),
            lambda o, p: _with_lr(
                o,
                float(p),
                lambda: tls.SequentialLR(
                    o,
                    [
                        tls.LinearLR(o, start_factor=1e-8, total_iters=t // 10),
                        tls.CosineAnnealingLR(o, T_max=t - t // 10),
                    ],
                    milestones=[t // 10],
                ),
            ),
            optax=lambda p, c: optax.warmup_cosine_decay_schedule(0.0, p, t // 10, t)(c),
        ),
    ]


def _with_lr(optimizer, lr, build):
    for group in optimizer.param_groups:
        group["lr"] = lr
    return build()


def sweep_metrics(k: int, t: int) -> np.ndarray:
    """A noisy loss per member that stops improving at a member-dependent step."""
    rng = np.random.default_rng(0)
    steps = np.arange(t)[:, None]
    stall = (np.arange(k) % 7 + 1)[None, :] * t // 10
    return (1.0 / (1.0 + np.minimum(steps, stall) / 50) + rng.normal(0, 0.01, (t, k))).astype(np.float32)


def optax_vmappable(case: SweepCase, hyper: np.ndarray) -> str:
    if case.optax is None:
        return "—"
    try:
        jax.block_until_ready(jax.jit(jax.vmap(case.optax, in_axes=(0, None)))(jnp.asarray(hyper[:4]), 5))
    except Exception as e:  # noqa: BLE001 -- reporting what optax does
        return f"no ({type(e).__name__})"
    return "yes"


def section_sweep(sizes: Sizes) -> dict:
    k, t = sizes.sweep_k, sizes.sweep_t
    kt, tt = sizes.sweep_torch_k, sizes.sweep_torch_t
    cases = sweep_cases(t)
    metrics = jnp.asarray(sweep_metrics(k, t))
    torch_metrics = sweep_metrics(kt, tt).astype(np.float64)

    def ours_blocks(case: SweepCase) -> tuple[Callable[[], float], Callable[[], float]]:
        batch = jax.jit(jax.vmap(case.ours))(jnp.asarray(case.hyper(k)))
        assert batch.lr.shape == (k,), batch.lr.shape

        def stepped(b, m):
            if case.metric:
                return jax.vmap(lambda s, m: s.step(m))(b, m)
            return jax.vmap(lambda s: s.step())(b)

        @jax.jit
        def final_state(b, ms):
            return lax.scan(lambda b, m: (stepped(b, m), None), b, ms)[0]

        @jax.jit
        def with_curve(b, ms):
            return lax.scan(lambda b, m: (lambda nb: (nb, nb.lr))(stepped(b, m)), b, ms)

        def block(fn):
            def run() -> float:
                t0 = time.perf_counter()
                jax.block_until_ready(fn(batch, metrics))
                return (time.perf_counter() - t0) / (k * t)

            return run

        return block(final_state), block(with_curve)

    def torch_block(case: SweepCase) -> Callable[[], float]:
        hyper = case.hyper(kt)

        def run() -> float:
            scheds = []
            for i in range(kt):
                optimizer = torch_optimizer()
                scheds.append(case.torch(optimizer, hyper[i]))
                optimizer.step()
            gc.collect()
            t0 = time.perf_counter()
            if case.metric:
                for step in range(tt):
                    row = torch_metrics[step]
                    for i, sched in enumerate(scheds):
                        sched.step(row[i])
            else:
                for _ in range(tt):
                    for sched in scheds:
                        sched.step()
            return (time.perf_counter() - t0) / (kt * tt)

        return run

    blocks: dict[tuple[str, str], Callable[[], float]] = {}
    for case in cases:
        blocks[(case.name, "torch")] = torch_block(case)
        blocks[(case.name, "ours")], blocks[(case.name, "ours+curve")] = ours_blocks(case)
    times, compiles = interleaved(blocks, sizes.sweep_rounds)
    rows = []
    for case in cases:
        tt_s, o_s, c_s = (times[(case.name, impl)] for impl in ("torch", "ours", "ours+curve"))
        rows.append(
            {
                "case": case.name,
                "s_per_scheduler_step": {"torch": tt_s, "ours": o_s, "ours+curve": c_s},
                "torch_over_ours": ratio(med(tt_s), med(o_s)),
                "torch_over_ours_curve": ratio(med(tt_s), med(c_s)),
                "optax_vmappable": optax_vmappable(case, case.hyper(8)),
            }
        )
    return {"rows": rows, "compiles_during_timing": compiles}


def report_sweep(result: dict, sizes: Sizes) -> str:
    lines = [
        "| family, swept hyperparameter | torch µs | ours ns | ours + lr curve ns | torch / ours "
        "| torch / (ours + curve) | optax schedule vmaps over it |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        t = row["s_per_scheduler_step"]
        lines.append(
            f"| {row['case']} | {fmt(med(t['torch']), '.2f', 1e6)} | {fmt_range(t['ours'], '.2f', 1e9)} "
            f"| {fmt_range(t['ours+curve'], '.2f', 1e9)} | {fmt_ratio(row['torch_over_ours'], '.0f')} "
            f"| {fmt_ratio(row['torch_over_ours_curve'], '.0f')} | {row['optax_vmappable']} |"
        )
    lines += [
        "",
        f"Per scheduler-step. Ours: K = {sizes.sweep_k:,} schedulers built with `jax.vmap`, stepped together for "
        f"T = {sizes.sweep_t:,} steps in one jitted `lax.scan` (ReduceLROnPlateau fed a (T, K) array of metrics); "
        "'ours' keeps the final state, 'ours + lr curve' also emits the (T, K) lrs. torch: "
        f"K = {sizes.sweep_torch_k:,} schedulers (each on its own SGD optimizer) stepped in a Python loop for "
        f"T = {sizes.sweep_torch_t:,} steps (fewer steps than ours: the per-step cost of the loop does not depend "
        f"on T). Medians over {sizes.sweep_rounds} rounds (min–max for ours).",
        f"Compilations during the timed rounds: {result['compiles_during_timing']}.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# 4. Memory.
# --------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """The current resident set size (Linux `/proc`; elsewhere the peak, from `resource`)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def state_bytes(sched) -> tuple[int, int]:
    leaves = jax.tree.leaves(sched)
    return len(leaves), sum(leaf.size * leaf.dtype.itemsize for leaf in leaves)


def memory_cases(steps: int) -> list[tuple[str, Callable[[Any], ss.AbstractScheduler], bool]]:
    total = steps * 2 + 10_000
    return [
        ("StepLR", lambda lr: ss.StepLR(lr, 30), False),
        ("CosineAnnealingLR", lambda lr: ss.CosineAnnealingLR(lr, 1000), False),
        ("OneCycleLR", lambda lr: ss.OneCycleLR(lr, total_steps=total), False),
        ("ReduceLROnPlateau (float metric)", lambda lr: ss.ReduceLROnPlateau(lr, patience=5), True),
        (
            "SequentialLR(LinearLR, CosineAnnealingLR)",
            lambda lr: ss.SequentialLR(
                [ss.LinearLR(lr, 0.1, total_iters=100), ss.CosineAnnealingLR(lr, T_max=1000)], milestones=[100]
            ),
            False,
        ),
    ]


def section_memory(sizes: Sizes) -> dict:
    rows = []
    for name, build, metric in memory_cases(sizes.memory_steps):
        sched = build(0.1)
        stepper = (lambda s, i: s.step(1.0 + (i % 7) * 0.1)) if metric else (lambda s, i: s.step())
        for i in range(sizes.memory_warmup):
            sched = stepper(sched, i)
        jax.block_until_ready(sched)
        size_before = state_bytes(sched)
        gc.collect()
        rss0 = rss_bytes()
        for i in range(sizes.memory_steps):
            sched = stepper(sched, i)
        jax.block_until_ready(sched)
        gc.collect()
        rss1 = rss_bytes()
        # Then the same number of steps again, with tracemalloc tracing every Python allocation.
        tracemalloc.start()
        traced0, _ = tracemalloc.get_traced_memory()
        for i in range(sizes.memory_steps):
            sched = stepper(sched, i)
        jax.block_until_ready(sched)
        gc.collect()
        traced1, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        one = state_bytes(build(0.1))
        eight = state_bytes(build([0.1] * 8))
        rows.append(
            {
                "case": name,
                "rss_growth_bytes": rss1 - rss0,
                "traced_growth_bytes": traced1 - traced0,
                "traced_peak_over_start_bytes": peak - traced0,
                "state_leaves_bytes_1_group": one,
                "state_leaves_bytes_8_groups": eight,
                "state_bytes_after_steps": state_bytes(sched),
                "state_bytes_before_steps": size_before,
            }
        )
    return {"rows": rows}


def report_memory(result: dict, sizes: Sizes) -> str:
    lines = [
        "| scheduler | RSS growth | tracemalloc growth | tracemalloc peak | state: leaves, bytes (1 group) "
        "| (8 groups) | same after the steps |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        n1, b1 = row["state_leaves_bytes_1_group"]
        n8, b8 = row["state_leaves_bytes_8_groups"]
        same = row["state_bytes_after_steps"] == row["state_bytes_before_steps"]
        lines.append(
            f"| {row['case']} | {row['rss_growth_bytes'] / 1024:.0f} KiB | {row['traced_growth_bytes'] / 1024:.1f} KiB "
            f"| {row['traced_peak_over_start_bytes'] / 1024:.1f} KiB | {n1}, {b1} B | {n8}, {b8} B "
            f"| {'yes' if same else 'NO'} |"
        )
    lines += [
        "",
        f"After {sizes.memory_warmup:,} warm-up steps: RSS (`/proc/self/status`) before and after "
        f"{sizes.memory_steps:,} eager steps; then `tracemalloc` (current and peak traced memory, over its "
        f"start) across {sizes.memory_steps:,} more.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# 5. Unrolled scans.
# --------------------------------------------------------------------------------------

UNROLLS = (1, 2, 4, 8, 16)


def unroll_cases(n: int) -> list[tuple[str, Callable[[], Any], Callable[[Any, Any], tuple[Any, Any]]]]:
    """(name, initial carry, scan body emitting the lr): ours through `step`, optax's through its function."""

    def stepped(s, m):
        s = s.step(m)
        return s, s.lr

    def counted(schedule):
        return lambda c, _: (c + 1, schedule(c))

    warm = min(1000, n // 10)
    warmup_cosine = [ss.LinearLR(0.1, start_factor=0.01, total_iters=warm), ss.CosineAnnealingLR(0.1, T_max=n - warm)]
    return [
        ("LinearLR(total_iters=N)", lambda: ss.LinearLR(0.1, 0.01, 1.0, n), stepped),
        ("CosineAnnealingLR(T_max=N)", lambda: ss.CosineAnnealingLR(0.1, n), stepped),
        ("SequentialLR(LinearLR, CosineAnnealingLR)", lambda: ss.SequentialLR(warmup_cosine, [warm]), stepped),
        ("ReduceLROnPlateau (fed a loss)", lambda: ss.ReduceLROnPlateau(0.1, patience=5), stepped),
        ("optax cosine_decay_schedule", lambda: jnp.int32(0), counted(optax.cosine_decay_schedule(0.1, n))),
        (
            "optax warmup_cosine_decay_schedule",
            lambda: jnp.int32(0),
            counted(optax.warmup_cosine_decay_schedule(0.001, 0.1, warm, n)),
        ),
    ]


def loop_body_ops(hlo: str) -> int:
    """Instructions XLA:CPU runs as separate steps (fusions, copies, ...) in the body of the first while loop."""
    body = re.search(r"while\(.*?body=(%[\w.\-]+)", hlo).group(1)
    start = hlo.index("\n" + body + " ")
    text = hlo[start + 1 : hlo.index("\n}", start)]
    passive = {"parameter", "get-tuple-element", "constant", "tuple", "bitcast"}
    ops = [re.match(r"\s*(?:ROOT )?%\S+ = \S+ ([\w-]+)\(", line) for line in text.splitlines()[1:]]
    return sum(1 for op in ops if op and op.group(1) not in passive)


def section_unroll(sizes: Sizes) -> dict:
    n, repeats = sizes.curve_n, sizes.curve_repeats
    # A loss that improves, then stalls: the plateau reduces its lr a few times.
    losses = jnp.asarray(1.0 / (1.0 + np.minimum(np.arange(n), n // 3) / 50.0), dtype=jnp.float32)
    blocks: dict[tuple[str, int], Callable[[], float]] = {}
    body_ops: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for name, init, body in unroll_cases(n):
        for u in UNROLLS:
            carry = init()
            # Compiled once: the executable whose loop body is counted is the one timed.
            run = (
                jax.jit(lambda c, xs, body=body, u=u: lax.scan(body, c, xs, unroll=u)[1]).lower(carry, losses).compile()
            )
            body_ops[name][u] = loop_body_ops(run.as_text())

            def block(run=run, carry=carry) -> float:
                t0 = time.perf_counter()
                for _ in range(repeats):
                    out = run(carry, losses)
                jax.block_until_ready(out)
                return (time.perf_counter() - t0) / (repeats * n)

            blocks[(name, u)] = block
    times, compiles = interleaved(blocks, sizes.curve_rounds)
    rows = [
        {"case": name, "s_per_step": {u: times[(name, u)] for u in UNROLLS}, "body_ops": ops}
        for name, ops in body_ops.items()
    ]
    return {"rows": rows, "compiles_during_timing": compiles}


def report_unroll(result: dict, sizes: Sizes) -> str:
    head = " | ".join(f"unroll={u} ns" for u in UNROLLS)
    lines = [
        f"| scan body | {head} | loop body ops, unroll={'/'.join(map(str, UNROLLS))} |",
        "|---|" + "---:|" * (len(UNROLLS) + 1),
    ]
    for row in result["rows"]:
        t, ops = row["s_per_step"], row["body_ops"]
        cells = " | ".join(fmt(med(t[u]), ".1f", 1e9) for u in UNROLLS)
        lines.append(f"| {row['case']} | {cells} | {' / '.join(str(ops[u]) for u in UNROLLS)} |")
    lines += [
        "",
        f"Per step of a jitted `lax.scan(body, carry, losses, unroll=u)` over N = {sizes.curve_n:,} steps, emitting "
        "the lr of every step; ours: `body` steps the scheduler (the plateau on the loss, the others ignore it); "
        "optax: the carry is the count and `body` calls the schedule function. Medians over "
        f"{sizes.curve_rounds} rounds, each block {sizes.curve_repeats} calls. Loop body ops: the instructions "
        "(fusions, copies) in the compiled loop body, as XLA:CPU runs them.",
        f"Compilations during the timed rounds: {result['compiles_during_timing']}.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------------------


def targets(results: dict) -> list[str]:
    """The targets of issue 5, checked against this run's medians."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = []
    if "train" in results:
        rows = [r for r in results["train"]["rows"] if r["scheduler"] and "[e]" not in r["variant"]]
        rows = [r for r in rows if "[g]" not in r["variant"]]
        kinds = {
            "ours, scheduler carried (set_hyperparams)": lambda v: v == "ours, set_hyperparams",
            "ours, configuration closed over (ss.partition) [p]": lambda v: "[p]" in v,
            "ours, inside the optimizer state [s]": lambda v: "[s]" in v,
            "ours, to_schedule": lambda v: "to_schedule" in v,
            "optax's own schedules, for comparison": lambda v: v.startswith("optax"),
        }
        lines.append("1. inside jit, ratio to fixed lr <= 1.02 (worst over the schedulers):")
        for kind, match in kinds.items():
            chosen = [r for r in rows if match(r["variant"])]
            if not chosen:
                continue
            worst = max(chosen, key=lambda r: med(r["ratio_to_fixed"]))
            x = med(worst["ratio_to_fixed"])
            bounds = [(overhead_bound(results["train"], r), r["scheduler"]) for r in chosen]
            b, at = max(bounds, key=lambda t: t[0] or 0.0)
            bound = "—" if b is None else f"{verdict(b <= 1.02)}, bound {b:.3f} ({at})"
            lines.append(f"   {kind}: median {x:.3f} ({worst['scheduler']}); from the per-call overhead [o]: {bound}")
    if "curve" in results:
        rows = results["curve"]["rows"]
        slow = [r["case"] for r in rows if r["values_over_optax"] is not None and r["values_over_optax"] > 2]
        slow_scan = [r["case"] for r in rows if r["scan_over_optax"] is not None and r["scan_over_optax"] > 2]
        few = [r["case"] for r in rows if r["torch_over_values"] is not None and r["torch_over_values"] < 100]
        few_scan = [r["case"] for r in rows if r["torch_over_scan"] is not None and r["torch_over_scan"] < 100]
        lines.append(f"2. values(n) within 2x optax: {verdict(not slow)} (over 2x: {slow or 'none'})")
        slow_f = [r["case"] for r in rows if r["folded_over_optax"] is not None and r["folded_over_optax"] > 2]
        lines.append(f"   values(n), folded, within 2x optax: {verdict(not slow_f)} (over 2x: {slow_f or 'none'})")
        lines.append(f"   values(n) >= 100x torch: {verdict(not few)} (below: {few or 'none'})")
        floor = med(results["curve"]["scan_floor_s_per_step"])
        lines.append(
            f"   scan(step) within 2x optax: {verdict(not slow_scan)} ({len(slow_scan)} of {len(rows)} over 2x; "
            f"a scan that only counts costs {floor * 1e9:.1f} ns per iteration [l])"
        )
        lines.append(
            f"   scan(step) >= 100x torch: {verdict(not few_scan)} ({len(few_scan)} of "
            f"{sum(r['torch_over_scan'] is not None for r in rows)} below)"
        )
    if "sweep" in results:
        rows = results["sweep"]["rows"]
        few = [r["case"] for r in rows if r["torch_over_ours"] < 1000]
        lines.append(f"3. sweeps >= 1000x torch per scheduler-step: {verdict(not few)} (below: {few or 'none'})")
    if "memory" in results:
        rows = results["memory"]["rows"]
        grew = [r["case"] for r in rows if r["traced_growth_bytes"] > 64 * 1024 or r["rss_growth_bytes"] > 1 << 20]
        lines.append(f"4. memory flat after warm-up: {verdict(not grew)} (grew: {grew or 'none'})")
    compiles = sum(r.get("compiles_during_timing", 0) for r in results.values())
    lines.append(f"5. compilations during all timed rounds: {compiles} (counted in tests/test_performance_counts.py)")
    return lines


SECTIONS = {
    "train": ("1. Inside jit: an MLP train step", section_train, report_train),
    "curve": ("2. Whole curve", section_curve, report_curve),
    "sweep": ("3. Sweeps", section_sweep, report_sweep),
    "memory": ("4. Memory", section_memory, report_memory),
    "unroll": ("5. Unrolled scans", section_unroll, report_unroll),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with small sizes")
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers as JSON to PATH")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    sizes = QUICK if args.quick else FULL

    warnings.simplefilter("ignore")  # torch's deprecation and call-order warnings
    info = machine_info(optax=optax.__version__, eqx_on_error=os.environ.get("EQX_ON_ERROR", "raise"))
    load = info["loadavg_at_start"]
    print("# statefulsched performance (issue 5)" + (" — QUICK smoke run, not for publication" if args.quick else ""))
    print()
    print(
        f"- machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs, Python {info['python']}"
        + (f", load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
    )
    print(
        f"- versions: jax {info['jax']}, jaxlib {info['jaxlib']} ({info['jax_backend']}), equinox {info['equinox']}, "
        f"optax {info['optax']}, torch {info['torch']} ({info['torch_threads']} threads)"
    )
    print(f"- sizes: {sizes}")
    print(f"- EQX_ON_ERROR={os.environ.get('EQX_ON_ERROR', 'raise')} (equinox's runtime checks)")
    print(flush=True)

    gc.collect()
    gc.freeze()  # the large heaps of jax and torch out of the collector's sight
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for key in chosen:
        title, run, report = SECTIONS[key]
        t0 = time.perf_counter()
        results[key] = run(sizes)
        results[key]["wall_s"] = time.perf_counter() - t0
        print(f"## {title}")
        print()
        print(report(results[key], sizes))
        print(f"\n(section wall time {results[key]['wall_s']:.0f} s)")
        print(flush=True)
    wall = time.perf_counter() - start
    print("## Targets (issue 5), this run")
    print()
    print("\n".join(targets(results)))
    print()
    try:
        load_end = os.getloadavg()
        print(f"benchmark wall time {wall:.0f} s; load average at end {load_end[0]:.2f} {load_end[1]:.2f}")
    except OSError:
        load_end = None
        print(f"benchmark wall time {wall:.0f} s")
    if args.json:
        out = {
            "machine": info,
            "loadavg_at_end": load_end,
            "quick": args.quick,
            "sizes": sizes.__dict__,
            "wall_s": wall,
            "results": results,
        }
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
