"""Benchmark of one eager `step`: statefulsched beside torch and beside a naive Equinox version.

What is timed is the user-facing loop, run eagerly in Python:

- torch:          `sched.step()` (`sched.step(1.0)` for ReduceLROnPlateau) on an SGD optimizer
                  holding one parameter; only the scheduler step is timed;
- statefulsched:  `s = s.step()` (`s = s.step(metric)`), `s.lr` staying a JAX array;
- naive Equinox:  the same loop over a minimal `eqx.Module` whose `step` is decorated with
                  `eqx.filter_jit` and returns a new module, as one would first write it
                  (defined below; a StepLR-like and a ReduceLROnPlateau-like module only).

Every case runs in this one process. After a warm-up (the first steps compile), each round
times one block of `--steps` consecutive steps of every case in turn (round-robin, the
starting case rotating from round to round, so machine noise hits all cases alike); a
block starts from a freshly built scheduler (built outside the timed region) and ends
by waiting for the last JAX result (`block_until_ready`), so asynchronous dispatch cannot
hide work. The figure reported is the median over `--rounds` rounds of the mean time per
step of a block.

    python benchmarks/eager_step.py                # N=5000 steps per block, R=7 rounds
    python benchmarks/eager_step.py --quick        # smoke run, a few seconds
    python benchmarks/eager_step.py --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402
from _machine import machine_info  # noqa: E402

import statefulsched as ss  # noqa: E402

# OneCycleLR allows exactly `total_steps` steps; "large" so no block ever reaches the end.
ONECYCLE_TOTAL_STEPS = 10_000_000
METRIC = 1.0


# --------------------------------------------------------------------------------------
# The naive Equinox implementation: what a user would write first.
# --------------------------------------------------------------------------------------


class NaiveStepLR(eqx.Module):
    """StepLR, written the obvious way: a module whose jitted `step` returns a new module."""

    base_lr: float
    step_size: int
    gamma: float
    last_epoch: jax.Array
    lr: jax.Array

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.base_lr = lr
        self.step_size = step_size
        self.gamma = gamma
        self.last_epoch = jnp.array(0)
        self.lr = jnp.array(lr, dtype=jnp.float32)

    @eqx.filter_jit
    def step(self) -> NaiveStepLR:
        t = self.last_epoch + 1
        lr = self.base_lr * self.gamma ** (t // self.step_size)
        return eqx.tree_at(lambda s: (s.last_epoch, s.lr), self, (t, lr.astype(self.lr.dtype)))


class NaivePlateau(eqx.Module):
    """ReduceLROnPlateau (min mode, relative threshold, no cooldown or min_lr), written the obvious way.

    Note: `eqx.filter_jit` holds a Python float argument static, so a Python-float metric
    that changes every step would recompile every step; the benchmark steps on a constant
    metric, which hits the cache, so that cost does not show in the table.
    """

    factor: float
    patience: int
    threshold: float
    eps: float
    last_epoch: jax.Array
    lr: jax.Array
    best: jax.Array
    num_bad_epochs: jax.Array

    def __init__(self, lr: float, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4, eps: float = 1e-8):
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.eps = eps
        self.last_epoch = jnp.array(0)
        self.lr = jnp.array(lr, dtype=jnp.float32)
        self.best = jnp.array(jnp.inf, dtype=jnp.float32)
        self.num_bad_epochs = jnp.array(0)

    @eqx.filter_jit
    def step(self, metric) -> NaivePlateau:
        better = metric < self.best * (1.0 - self.threshold)
        best = jnp.where(better, metric, self.best)
        bad = jnp.where(better, 0, self.num_bad_epochs + 1)
        reduce = bad > self.patience
        reduced = self.lr * self.factor
        lr = jnp.where(reduce & (self.lr - reduced > self.eps), reduced, self.lr)
        bad = jnp.where(reduce, 0, bad)
        return eqx.tree_at(
            lambda s: (s.last_epoch, s.lr, s.best, s.num_bad_epochs),
            self,
            (self.last_epoch + 1, lr, best.astype(self.best.dtype), bad),
        )


# --------------------------------------------------------------------------------------
# The cases.
# --------------------------------------------------------------------------------------

BlockFn = Callable[[int], float]  # runs n steps from a fresh scheduler, returns seconds


def torch_block(make: Callable[[torch.optim.Optimizer], object], metric: float | None = None) -> BlockFn:
    def block(n: int) -> float:
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=0.1)
        sched = make(optimizer)
        optimizer.step()  # so that torch does not warn about the order of the calls
        gc.collect()
        if metric is None:
            t0 = time.perf_counter()
            for _ in range(n):
                sched.step()
            return time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n):
            sched.step(metric)
        return time.perf_counter() - t0

    return block


def jax_block(make: Callable[[], object], metric: object | None = None) -> BlockFn:
    """For statefulsched and the naive modules alike: `s = s.step()` or `s = s.step(metric)`."""

    def block(n: int) -> float:
        s = make()
        jax.block_until_ready(s.lr)
        gc.collect()
        if metric is None:
            t0 = time.perf_counter()
            for _ in range(n):
                s = s.step()
            jax.block_until_ready(s.lr)
            elapsed = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            for _ in range(n):
                s = s.step(metric)
            jax.block_until_ready(s.lr)
            elapsed = time.perf_counter() - t0
        assert isinstance(s.lr, jax.Array), type(s.lr)
        return elapsed

    return block


@dataclass
class Case:
    name: str
    torch: BlockFn | None = None
    ours: BlockFn | None = None
    naive: BlockFn | None = None
    # Set when the torch column repeats the measurement of another row.
    torch_from: str | None = None
    note: str = ""
    times: dict[str, list[float]] = field(default_factory=dict)  # impl -> per-step seconds


IMPLS = ("torch", "ours", "naive")


def build_cases() -> list[Case]:
    lr_sched = torch.optim.lr_scheduler
    f32_metric = jnp.asarray(METRIC, jnp.float32)
    return [
        Case(
            "StepLR(step_size=30)",
            torch=torch_block(lambda o: lr_sched.StepLR(o, step_size=30)),
            ours=jax_block(lambda: ss.StepLR(0.1, step_size=30)),
            naive=jax_block(lambda: NaiveStepLR(0.1, step_size=30)),
        ),
        Case(
            "CosineAnnealingLR(T_max=1000)",
            torch=torch_block(lambda o: lr_sched.CosineAnnealingLR(o, T_max=1000)),
            ours=jax_block(lambda: ss.CosineAnnealingLR(0.1, T_max=1000)),
        ),
        Case(
            f"OneCycleLR(total_steps={ONECYCLE_TOTAL_STEPS:.0e})".replace("e+0", "e"),
            torch=torch_block(lambda o: lr_sched.OneCycleLR(o, max_lr=0.1, total_steps=ONECYCLE_TOTAL_STEPS)),
            ours=jax_block(lambda: ss.OneCycleLR(max_lr=0.1, total_steps=ONECYCLE_TOTAL_STEPS)),
        ),
        Case(
            "LinearLR(total_iters=1000)",
            torch=torch_block(lambda o: lr_sched.LinearLR(o, start_factor=0.1, total_iters=1000)),
            ours=jax_block(lambda: ss.LinearLR(0.1, start_factor=0.1, total_iters=1000)),
        ),
        Case(
            "ReduceLROnPlateau, float metric",
            torch=torch_block(lambda o: lr_sched.ReduceLROnPlateau(o, patience=5), metric=METRIC),
            ours=jax_block(lambda: ss.ReduceLROnPlateau(0.1, patience=5), metric=METRIC),
            naive=jax_block(lambda: NaivePlateau(0.1, patience=5), metric=METRIC),
            note="naive: filter_jit holds a Python float static; a metric changing every step "
            "would recompile every step (the constant metric here hits the cache)",
        ),
        Case(
            "ReduceLROnPlateau, jnp.float32 metric",
            ours=jax_block(lambda: ss.ReduceLROnPlateau(0.1, patience=5), metric=f32_metric),
            naive=jax_block(lambda: NaivePlateau(0.1, patience=5), metric=f32_metric),
            torch_from="ReduceLROnPlateau, float metric",
            note="torch column: torch's `step(1.0)`, from the row above",
        ),
        Case(
            "SequentialLR(LinearLR, CosineAnnealingLR)",
            torch=torch_block(
                lambda o: lr_sched.SequentialLR(
                    o,
                    [
                        lr_sched.LinearLR(o, start_factor=0.1, total_iters=100),
                        lr_sched.CosineAnnealingLR(o, T_max=1000),
                    ],
                    milestones=[100],
                )
            ),
            ours=jax_block(
                lambda: ss.SequentialLR(
                    [ss.LinearLR(0.1, start_factor=0.1, total_iters=100), ss.CosineAnnealingLR(0.1, T_max=1000)],
                    milestones=[100],
                )
            ),
            note="for information",
        ),
        Case(
            "ChainedScheduler(ConstantLR, ExponentialLR)",
            torch=torch_block(
                lambda o: lr_sched.ChainedScheduler(
                    [lr_sched.ConstantLR(o, factor=0.5, total_iters=100), lr_sched.ExponentialLR(o, gamma=0.999)]
                )
            ),
            ours=jax_block(
                lambda: ss.ChainedScheduler(
                    [ss.ConstantLR(0.1, factor=0.5, total_iters=100), ss.ExponentialLR(0.1, gamma=0.999)]
                )
            ),
            note="for information",
        ),
    ]


# --------------------------------------------------------------------------------------
# Running and reporting.
# --------------------------------------------------------------------------------------


def run(cases: list[Case], steps: int, rounds: int, warmup: int) -> None:
    blocks = [(case, impl, getattr(case, impl)) for case in cases for impl in IMPLS if getattr(case, impl)]
    # The heap of jax and torch is large: move what exists now out of the collector's sight,
    # so the `gc.collect()` before each block costs milliseconds, not a fifth of a second.
    gc.collect()
    gc.freeze()
    for _, _, block in blocks:  # compile, fill caches, touch every code path once
        block(warmup)
    gc.collect()
    gc.freeze()
    for case, impl, _ in blocks:
        case.times[impl] = []
    for r in range(rounds):
        shift = r % len(blocks)
        for case, impl, block in blocks[shift:] + blocks[:shift]:
            case.times[impl].append(block(steps) / steps)


def median_us(case: Case, impl: str, by_name: dict[str, Case]) -> float | None:
    if impl == "torch" and case.torch_from is not None:
        case = by_name[case.torch_from]
    times = case.times.get(impl)
    return statistics.median(times) * 1e6 if times else None


def table(cases: list[Case]) -> tuple[str, list[dict]]:
    by_name = {c.name: c for c in cases}
    lines = [
        "| case | torch µs | statefulsched µs | naive eqx µs | ours/torch | naive/ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows, notes = [], []

    def fmt(x: float | None, spec: str) -> str:
        return "—" if x is None else format(x, spec)

    for case in cases:
        t, o, n = (median_us(case, impl, by_name) for impl in IMPLS)
        ours_torch = o / t if (o is not None and t is not None) else None
        naive_ours = n / o if (n is not None and o is not None) else None
        name = case.name
        if case.note:
            notes.append(case.note)
            name += f" [{len(notes)}]"
        torch_cell = fmt(t, ".1f") + (" [*]" if case.torch_from else "")
        lines.append(
            f"| {name} | {torch_cell} | {fmt(o, '.1f')} | {fmt(n, '.1f')} "
            f"| {fmt(ours_torch, '.2f')}× | {fmt(naive_ours, '.2f')}× |".replace("—×", "—")
        )
        rows.append(
            {
                "case": case.name,
                "torch_us": t,
                "ours_us": o,
                "naive_us": n,
                "ours_over_torch": ours_torch,
                "naive_over_ours": naive_ours,
                "torch_measured_in": case.torch_from or (case.name if case.torch else None),
                "note": case.note,
                "per_round_us": {impl: [x * 1e6 for x in ts] for impl, ts in case.times.items()},
            }
        )
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1))
    return text, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per timed block (N, default 5000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (R, default 7)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=200, R=3")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (200 if args.quick else 5000)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    if steps < 1 or rounds < 1:
        parser.error("--steps and --rounds must be positive")
    if steps >= ONECYCLE_TOTAL_STEPS:
        parser.error(f"--steps must be below {ONECYCLE_TOTAL_STEPS} (OneCycleLR's total_steps)")
    warmup = min(steps, 500)

    warnings.simplefilter("ignore")  # torch's deprecation and call-order warnings
    info = machine_info()
    method = (
        f"per case: warm-up of {warmup} steps (compiles), then {rounds} interleaved rounds "
        f"(round-robin over all cases, rotating start); each round times a block of {steps} "
        f"steps from a fresh scheduler with time.perf_counter (JAX: until block_until_ready "
        f"of the last lr); reported: median over rounds of the mean time per step"
    )
    print("# Eager `step` benchmark")
    print()
    load = info["loadavg_at_start"]
    print(
        f"- machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs, Python {info['python']}"
        + (f", load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
    )
    print(
        f"- versions: jax {info['jax']}, jaxlib {info['jaxlib']} ({info['jax_backend']}, "
        f"x64 {'on' if info['jax_x64'] else 'off'}), equinox {info['equinox']}, torch {info['torch']} "
        f"({info['torch_threads']} threads)"
    )
    print(f"- method: {method}")
    print(flush=True)

    cases = build_cases()
    start = time.perf_counter()
    run(cases, steps, rounds, warmup)
    wall = time.perf_counter() - start
    text, rows = table(cases)
    print(text)
    print()
    print("[*] not measured again: the torch figure of the row it refers to.")
    try:
        load_end = os.getloadavg()
        print(
            f"\nbenchmark wall time {wall:.1f} s; load average at end "
            f"{load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}"
        )
    except OSError:
        load_end = None
        print(f"\nbenchmark wall time {wall:.1f} s")

    if args.json:
        out = {
            "machine": info,
            "loadavg_at_end": load_end,
            "method": method,
            "steps": steps,
            "rounds": rounds,
            "warmup": warmup,
            "wall_s": wall,
            "results": rows,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
