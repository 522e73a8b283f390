"""Every scheduler under `jax.jit`, `lax.scan` and `jax.vmap`.

A scheduler is meant to live inside compiled training loops: as a `scan` carry, as an
argument of a jitted train step, batched with `vmap`. These tests check that stepping is
pure, that the pytree (structure, shapes, dtypes, weak types) never changes, that eager,
jitted and scanned stepping agree, that a whole run traces and compiles once, and that a
batch built with `vmap` behaves like its members built one by one.
"""

import collections
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_example_libraries import EXAMPLE_LIBRARIES_CASES
from test_optax_schedules import OPTAX_CASES

import statefulsched as ss

N_STEPS = 60

# One jitted step shared by the tests that do not count traces, so each configuration is
# compiled once for the whole module.
_JIT_STEP = jax.jit(lambda s, m: s.step(m))


def _plateau_metrics(n: int = N_STEPS) -> np.ndarray:
    """Improves in steps of 0.1 every 6 steps for 30 steps, then plateaus for good."""
    i = np.arange(n)
    return np.where(i < 30, 1.0 - 0.1 * (i // 6), 0.45).astype(np.float32)


PLATEAU_MIN = _plateau_metrics()
PLATEAU_MAX = -PLATEAU_MIN


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], ss.AbstractScheduler]
    metrics: np.ndarray = dataclasses.field(default_factory=lambda: PLATEAU_MIN)
    steps: int = N_STEPS

    def __repr__(self):
        return self.id


def _warmup(t):
    return jnp.minimum(1.0, (t + 1) / 10)


def _decay(t):
    return 0.95**t


def _shrink(t):
    return jnp.where(t < 20, 0.97, 1.0)


def _halve_per_cycle(x):
    return 1 / (2.0 ** (x - 1))


CASES = [
    Case("LambdaLR", lambda: ss.LambdaLR(0.1, _warmup)),
    Case("LambdaLR-2groups", lambda: ss.LambdaLR([0.1, 0.05], [_warmup, _decay])),
    Case("MultiplicativeLR", lambda: ss.MultiplicativeLR(0.1, _shrink)),
    Case("MultiplicativeLR-2groups", lambda: ss.MultiplicativeLR([0.1, 0.3], _shrink)),
    Case("StepLR", lambda: ss.StepLR(0.1, step_size=7, gamma=0.5)),
    Case("StepLR-2groups", lambda: ss.StepLR([0.1, 0.02], step_size=7, gamma=0.5)),
    Case("MultiStepLR", lambda: ss.MultiStepLR(0.1, milestones=[10, 25, 25, 40], gamma=0.5)),
    Case("MultiStepLR-2groups", lambda: ss.MultiStepLR([0.1, 1.0], milestones=[3, 30], gamma=0.3)),
    Case("ConstantLR", lambda: ss.ConstantLR(0.1, factor=0.5, total_iters=10)),
    Case("ConstantLR-2groups", lambda: ss.ConstantLR([0.1, 0.2], factor=0.25, total_iters=3)),
    Case("LinearLR", lambda: ss.LinearLR(0.1, start_factor=0.25, total_iters=12)),
    Case("LinearLR-2groups", lambda: ss.LinearLR([0.1, 0.3], start_factor=1.0, end_factor=0.1, total_iters=40)),
    Case("ExponentialLR", lambda: ss.ExponentialLR(0.1, gamma=0.95)),
    Case("ExponentialLR-2groups", lambda: ss.ExponentialLR([0.1, 0.01], gamma=1.05)),
    Case("PolynomialLR", lambda: ss.PolynomialLR(0.1, total_iters=30, power=2.0)),
    Case("PolynomialLR-2groups", lambda: ss.PolynomialLR([0.1, 0.2], total_iters=45, power=0.5)),
    Case("CosineAnnealingLR", lambda: ss.CosineAnnealingLR(0.1, T_max=20, eta_min=0.001)),
    Case("CosineAnnealingLR-2groups", lambda: ss.CosineAnnealingLR([0.1, 0.05], T_max=7)),
    Case("CosineAnnealingWarmRestarts", lambda: ss.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=2, eta_min=0.001)),
    Case("CosineAnnealingWarmRestarts-2groups", lambda: ss.CosineAnnealingWarmRestarts([0.1, 0.2], T_0=4)),
    Case("CyclicLR", lambda: ss.CyclicLR(0.01, 0.1, step_size_up=5, step_size_down=7)),
    Case("CyclicLR-triangular2", lambda: ss.CyclicLR(0.01, 0.1, step_size_up=4, mode="triangular2")),
    Case(
        "CyclicLR-exp_range-2groups",
        lambda: ss.CyclicLR([0.01, 0.001], [0.1, 0.05], step_size_up=3, mode="exp_range", gamma=0.97),
    ),
    Case(
        "CyclicLR-scale_fn-no_momentum",
        lambda: ss.CyclicLR(0.01, 0.1, step_size_up=3, scale_fn=_halve_per_cycle, cycle_momentum=False),
    ),
    Case("OneCycleLR", lambda: ss.OneCycleLR(0.1, total_steps=N_STEPS)),
    Case(
        "OneCycleLR-three_phase-linear-2groups",
        lambda: ss.OneCycleLR([0.1, 0.2], epochs=6, steps_per_epoch=10, anneal_strategy="linear", three_phase=True),
    ),
    Case("OneCycleLR-no_momentum", lambda: ss.OneCycleLR(0.1, total_steps=75, pct_start=0.25, cycle_momentum=False)),
    Case("ReduceLROnPlateau", lambda: ss.ReduceLROnPlateau(0.1, patience=2, factor=0.5, cooldown=1)),
    Case(
        "ReduceLROnPlateau-2groups",
        lambda: ss.ReduceLROnPlateau([0.1, 0.01], patience=1, factor=0.5, min_lr=[0.01, 0.004]),
    ),
    Case(
        "ReduceLROnPlateau-max-abs",
        lambda: ss.ReduceLROnPlateau(0.1, mode="max", threshold_mode="abs", threshold=0.01, patience=3),
        metrics=PLATEAU_MAX,
    ),
    Case("SWALR", lambda: ss.SWALR(0.1, swa_lr=0.01, anneal_epochs=10)),
    Case(
        "SWALR-linear-2groups",
        lambda: ss.SWALR([0.1, 0.2], swa_lr=[0.01, 0.05], anneal_epochs=4, anneal_strategy="linear"),
    ),
    Case(
        "SequentialLR(LinearLR,CosineAnnealingLR)",
        lambda: ss.SequentialLR(
            [ss.LinearLR(0.1, start_factor=0.1, total_iters=10), ss.CosineAnnealingLR(0.1, T_max=50)], milestones=[10]
        ),
    ),
    Case(
        "SequentialLR(LinearLR,CosineAnnealingLR)-2groups",
        lambda: ss.SequentialLR(
            [ss.LinearLR([0.1, 0.2], start_factor=0.1, total_iters=5), ss.CosineAnnealingLR([0.1, 0.2], T_max=30)],
            milestones=[5],
        ),
    ),
    Case(
        "SequentialLR(LinearLR,ReduceLROnPlateau)",
        lambda: ss.SequentialLR(
            [ss.LinearLR(0.1, start_factor=0.1, total_iters=10), ss.ReduceLROnPlateau(0.1, patience=2, factor=0.5)],
            milestones=[10],
        ),
    ),
    Case(
        "SequentialLR(ConstantLR,MultiplicativeLR,SWALR)",
        lambda: ss.SequentialLR(
            [ss.ConstantLR(0.1, factor=0.5), ss.MultiplicativeLR(0.1, _shrink), ss.SWALR(0.1, swa_lr=0.02)],
            milestones=[8, 30],
        ),
    ),
    Case(
        "ChainedScheduler(ConstantLR,ExponentialLR)",
        lambda: ss.ChainedScheduler([ss.ConstantLR(0.1, factor=0.5, total_iters=8), ss.ExponentialLR(0.1, gamma=0.97)]),
    ),
    Case(
        "ChainedScheduler(ConstantLR,ExponentialLR)-2groups",
        lambda: ss.ChainedScheduler(
            [ss.ConstantLR([0.1, 0.3], factor=0.5, total_iters=8), ss.ExponentialLR([0.1, 0.3], gamma=0.97)]
        ),
    ),
    Case(
        "ChainedScheduler(CosineAnnealingLR,ReduceLROnPlateau)",
        lambda: ss.ChainedScheduler(
            [ss.CosineAnnealingLR(0.1, T_max=25), ss.ReduceLROnPlateau(0.1, patience=2, factor=0.5)]
        ),
    ),
]

# The schedules of optax's catalogue and of `jax.example_libraries` (and `FunctionScheduler`),
# with their own differential tests in `test_optax_schedules.py` / `test_example_libraries.py`.
CASES += [Case(f"optax.{name}", build) for name, build in OPTAX_CASES]
CASES += [Case(f"example_libraries.{name}", build) for name, build in EXAMPLE_LIBRARIES_CASES]


def _public_classes() -> set[type]:
    return {
        value
        for namespace in (ss, ss.optax, ss.example_libraries)
        for name, value in vars(namespace).items()
        if isinstance(value, type) and issubclass(value, ss.AbstractScheduler) and not name.startswith("Abstract")
    }


def test_table_covers_every_scheduler():
    # Every public scheduler class appears in the table (a new class must be added to it).
    assert len(_public_classes()) == 16 + 14 + 6
    assert {type(case.build()) for case in CASES} == _public_classes()


def _uses_metric(sched) -> bool:
    return any(isinstance(part, ss.ReduceLROnPlateau) for part in _walk(sched))


def _walk(sched):
    yield sched
    for child in getattr(sched, "schedulers", ()):
        yield from _walk(child)


def _metrics(case: Case, dtype=None) -> np.ndarray:
    return np.asarray(case.metrics[: case.steps], dtype=dtype or jnp.dtype(_float_dtype()))


def _float_dtype():
    return jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32


def _momentum(sched):
    return getattr(sched, "momentum", None)


def _signature(sched) -> tuple:
    """Everything that decides whether a compiled function must be retraced."""
    leaves, treedef = jax.tree.flatten(sched)
    return treedef, [(type(x), jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None)) for x in leaves]


def _assert_same_array(actual, expected, maxulp=1):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual, expected)
    if not np.array_equal(actual, expected):
        np.testing.assert_array_max_ulp(actual, expected, maxulp=maxulp)


def _eager_run(case: Case, metrics=None):
    """Steps eagerly; a scheduler without a plateau is stepped with no metric at all."""
    metrics = _metrics(case) if metrics is None else metrics
    sched = case.build()
    uses_metric = _uses_metric(sched)
    scheds = [sched]
    for m in metrics:
        sched = sched.step(float(m)) if uses_metric else sched.step()
        scheds.append(sched)
    return scheds


# ----------------------------------------------------------------------------------------
# Purity and pytree stability


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_step_leaves_scheduler_unchanged(case):
    sched = case.build()
    metrics = _metrics(case)
    # Walk a little into the run first (e.g. past milestones) so state is non-trivial.
    for m in metrics[:12]:
        sched = sched.step(m)
    leaves_before = [np.array(x, copy=True) for x in jax.tree.leaves(sched)]
    treedef_before = jax.tree.structure(sched)
    fields_before = dict(vars(sched))
    children_before = [dict(vars(c)) for c in _walk(sched)]

    new = sched.step(metrics[12])
    _JIT_STEP(sched, jnp.asarray(metrics[13]))

    assert new is not sched
    assert jax.tree.structure(sched) == treedef_before
    for before, after in zip(leaves_before, jax.tree.leaves(sched), strict=True):
        np.testing.assert_array_equal(np.asarray(after), before)
    assert vars(sched).keys() == fields_before.keys()
    assert all(vars(sched)[k] is v for k, v in fields_before.items())
    for child, before in zip(_walk(sched), children_before, strict=True):
        assert all(vars(child)[k] is v for k, v in before.items())
    # And the step did something: the counter moved.
    assert int(new.last_epoch) == int(sched.last_epoch) + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        sched.lr = jnp.zeros_like(sched.lr)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_pytree_is_stable_and_strongly_typed(case, float_mode):
    expected_float = jnp.dtype(jnp.float64 if float_mode == "x64" else jnp.float32)
    sched = case.build()
    first = _signature(sched)
    treedef, leaves = first
    assert leaves, "a scheduler must have array leaves"
    for kind, _, dtype, weak in leaves:
        assert issubclass(kind, jax.Array), f"leaf of type {kind.__name__}: not a JAX array"
        assert weak is False, "weak-typed leaf"
        if jnp.issubdtype(dtype, jnp.floating):
            assert dtype == expected_float
        else:
            assert dtype == jnp.int32, dtype
    assert jnp.result_type(sched.lr) == expected_float
    assert sched.last_epoch.dtype == jnp.int32 and sched.last_epoch.shape == ()
    if (m := _momentum(sched)) is not None:
        assert m.dtype == expected_float and m.shape == sched.lr.shape

    # Under x64 only the eager path (itself a compiled kernel) is stepped, to save compile time.
    eager = traced = sched
    for m in _metrics(case)[:50]:
        eager = eager.step(m)
        assert _signature(eager) == first
        assert jnp.isfinite(eager.lr).all()
        if float_mode == "float32":
            traced = _JIT_STEP(traced, jnp.asarray(m))
            assert _signature(traced) == first


# ----------------------------------------------------------------------------------------
# eager == jit == scan


def _trajectory(scheds):
    lrs = np.stack([np.asarray(s.lr) for s in scheds])
    moms = None
    if _momentum(scheds[0]) is not None:
        moms = np.stack([np.asarray(s.momentum) for s in scheds])
    return lrs, moms


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_eager_jit_and_scan_agree(case, float_mode):
    # Eager steps without a metric where none is used; jit and scan always pass one, so
    # this also checks that metric-free schedulers ignore it. Under x64 every path
    # computes in float64.
    metrics = _metrics(case)
    eager = _eager_run(case, metrics)
    eager_lrs, eager_moms = _trajectory(eager)

    sched = case.build()
    scheds = [sched]
    for m in metrics:
        sched = _JIT_STEP(sched, jnp.asarray(m))
        scheds.append(sched)
    jit_lrs, jit_moms = _trajectory(scheds)

    def body(s, m):
        s = s.step(m)
        return s, (s.lr, _momentum(s))

    start = case.build()
    final, (scan_lrs, scan_moms) = jax.lax.scan(body, start, jnp.asarray(metrics))
    scan_lrs = np.concatenate([np.asarray(start.lr)[None], np.asarray(scan_lrs)])

    _assert_same_array(jit_lrs, eager_lrs)
    _assert_same_array(scan_lrs, eager_lrs)
    assert (eager_moms is None) == (scan_moms is None) == (jit_moms is None)
    if eager_moms is not None:
        scan_moms = np.concatenate([np.asarray(start.momentum)[None], np.asarray(scan_moms)])
        _assert_same_array(jit_moms, eager_moms)
        _assert_same_array(scan_moms, eager_moms)
    # The final states agree leaf by leaf (counters, plateau bests, children...).
    for a, b, c in zip(jax.tree.leaves(eager[-1]), jax.tree.leaves(scheds[-1]), jax.tree.leaves(final), strict=True):
        _assert_same_array(b, a)
        _assert_same_array(c, a)
    assert int(final.last_epoch) == len(metrics)
    assert final.lr.dtype == jnp.dtype(jnp.float64 if float_mode == "x64" else jnp.float32)
    # The run is not trivial: the lr moved (but for the constant schedules).
    assert len(np.unique(eager_lrs)) > 1 or "Constant" in case.id


# ----------------------------------------------------------------------------------------
# Trace and compile counting


# The run crosses the points where a scheduler changes regime: plateau reductions (the
# metric plateaus from step 30), SequentialLR milestones (10, 8/30), warm restarts (5, 15,
# 35), cycle ends (CyclicLR), phase ends (OneCycleLR).
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_jax_jit_traces_once_per_run(case):
    traces = 0

    @jax.jit
    def step_fn(sched, metric):
        nonlocal traces
        traces += 1
        return sched.step(metric)

    sched = case.build()
    for m in _metrics(case):
        sched = step_fn(sched, jnp.asarray(m))
    jax.block_until_ready(sched)
    assert traces == 1
    assert int(sched.last_epoch) == case.steps


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_filter_jit_traces_once_per_run(case):
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def step_fn(sched, metric):
        return sched.step(metric)

    sched = case.build()
    for m in _metrics(case):
        sched = step_fn(sched, jnp.asarray(m))
    assert int(sched.last_epoch) == case.steps
    assert eqx.debug.get_num_traces(step_fn) == 1


_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def _count_compiles():
    """Counts XLA compilations by function name while active."""
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


def _mixed_metrics(values) -> list[Any]:
    """The metric as a Python float, NumPy float64, jnp float32 and weak-typed jnp scalar in turn."""
    kinds = [float, np.float64, jnp.float32, jnp.asarray]
    out = [kinds[i % 4](float(v)) for i, v in enumerate(values)]
    assert out[3].weak_type and not out[2].weak_type
    return out


def test_compile_counter_sees_recompilation():
    """Control: the counter used below does detect a function compiled twice."""
    sched = ss.ReduceLROnPlateau(0.1, patience=2)
    metrics = _mixed_metrics(PLATEAU_MIN[:8])
    naive = jax.jit(lambda s, m: s.step(m))  # gets raw (weak / strong) metrics
    with _count_compiles() as counts:
        for m in metrics:
            sched = naive(sched, m)
    assert counts["jit(<lambda>)"] == 2, counts


# ----------------------------------------------------------------------------------------
# vmap over hyperparameters


@dataclasses.dataclass(frozen=True)
class VmapCase:
    id: str
    build: Callable[[Any], ss.AbstractScheduler]
    values: Any
    metrics: np.ndarray | None = None  # (steps, batch); default PLATEAU_MIN for all
    maxulp: int = 1

    def __repr__(self):
        return self.id


def _staggered_plateaus(batch: int) -> np.ndarray:
    # Member k plateaus from step 10 * (k + 1).
    i = np.arange(N_STEPS)[:, None]
    k = np.arange(batch)[None, :]
    return np.where(i < 10 * (k + 1), 1.0 - 0.02 * i, 0.99 - 0.2 * (k + 1)).astype(np.float32)


VMAP_CASES = [
    # gamma enters through log(gamma): a Python gamma has its log taken in float64, a traced
    # one in float32 (documented in `_numerics.log_of`), hence a few ulps after 60 steps.
    VmapCase(
        "ExponentialLR-gamma", lambda g: ss.ExponentialLR(0.1, gamma=g), np.array([0.5, 0.9, 0.99, 1.01]), maxulp=64
    ),
    VmapCase("StepLR-step_size", lambda n: ss.StepLR(0.1, step_size=n, gamma=0.5), np.array([1, 4, 7], np.int32)),
    VmapCase(
        "MultiStepLR-milestones",
        lambda ms: ss.MultiStepLR(0.1, milestones=ms, gamma=0.5),
        np.array([[3, 10, 40], [0, 0, 20], [15, 16, 59]], np.int32),
    ),
    VmapCase(
        "ConstantLR-factor", lambda f: ss.ConstantLR([0.1, 0.2], factor=f, total_iters=6), np.array([0.1, 0.5, 1.0])
    ),
    VmapCase(
        "LinearLR-total_iters",
        lambda n: ss.LinearLR(0.1, start_factor=0.2, total_iters=n),
        np.array([1, 9, 70], np.int32),
    ),
    VmapCase("PolynomialLR-power", lambda p: ss.PolynomialLR(0.1, total_iters=50, power=p), np.array([0.0, 0.5, 3.0])),
    VmapCase(
        "CosineAnnealingLR-T_max",
        lambda t: ss.CosineAnnealingLR(0.1, T_max=t, eta_min=1e-3),
        np.array([1, 7, 20, 100], np.int32),
    ),
    VmapCase("CosineAnnealingLR-lr", lambda lr: ss.CosineAnnealingLR(lr, T_max=9), np.array([0.1, 1.0, 3e-4])),
    VmapCase(
        "CosineAnnealingWarmRestarts-T_0",
        lambda t: ss.CosineAnnealingWarmRestarts(0.1, T_0=t, T_mult=2),
        np.array([1, 3, 10], np.int32),
    ),
    VmapCase(
        "CyclicLR-max_lr", lambda m: ss.CyclicLR(0.01, m, step_size_up=4, mode="triangular2"), np.array([0.1, 0.5])
    ),
    VmapCase("CyclicLR-step_size_up", lambda n: ss.CyclicLR(0.01, 0.1, step_size_up=n), np.array([2, 5, 11], np.int32)),
    VmapCase("OneCycleLR-max_lr", lambda m: ss.OneCycleLR(m, total_steps=N_STEPS), np.array([0.1, 0.3, 1.0])),
    VmapCase(
        "OneCycleLR-max_lr-three_phase",
        lambda m: ss.OneCycleLR(m, total_steps=N_STEPS, three_phase=True, anneal_strategy="linear"),
        np.array([0.1, 0.3, 1.0]),
    ),
    VmapCase(
        "ReduceLROnPlateau-patience",
        lambda p: ss.ReduceLROnPlateau(0.1, patience=p, factor=0.5),
        np.array([0, 2, 5], np.int32),
        metrics=_staggered_plateaus(3),
    ),
    VmapCase(
        "ReduceLROnPlateau-factor",
        lambda f: ss.ReduceLROnPlateau([0.1, 0.2], patience=1, factor=f),
        np.array([0.1, 0.5]),
        metrics=_staggered_plateaus(2),
    ),
    VmapCase("SWALR-swa_lr", lambda s: ss.SWALR(0.1, swa_lr=s, anneal_epochs=7), np.array([0.0, 0.01, 0.5])),
    VmapCase("LambdaLR-lr", lambda lr: ss.LambdaLR(lr, _warmup), np.array([0.1, 0.7])),
    VmapCase("MultiplicativeLR-lr", lambda lr: ss.MultiplicativeLR(lr, _shrink), np.array([0.1, 0.7])),
    VmapCase(
        "SequentialLR-milestones",
        lambda ms: ss.SequentialLR(
            [
                ss.LinearLR(0.1, start_factor=0.1, total_iters=10),
                ss.ExponentialLR(0.1, gamma=0.9),
                ss.CosineAnnealingLR(0.1, T_max=15),
            ],
            milestones=ms,
        ),
        np.array([[5, 20], [10, 11], [0, 40]], np.int32),
    ),
    VmapCase(
        "SequentialLR(LinearLR,ReduceLROnPlateau)-milestones",
        lambda ms: ss.SequentialLR(
            [ss.LinearLR(0.1, start_factor=0.1, total_iters=10), ss.ReduceLROnPlateau(0.1, patience=1)],
            milestones=ms,
        ),
        np.array([[5], [12], [25]], np.int32),
        metrics=_staggered_plateaus(3),
    ),
    VmapCase(
        "ChainedScheduler-total_iters",
        lambda n: ss.ChainedScheduler([ss.ConstantLR(0.1, factor=0.5, total_iters=n), ss.StepLR(0.1, step_size=10)]),
        np.array([2, 15], np.int32),
    ),
]


def _member_value(values, i):
    v = values[i]
    return v.tolist() if isinstance(v, np.ndarray) else v.item()


@pytest.mark.parametrize("case", VMAP_CASES, ids=repr)
def test_vmap_batch_matches_members(case):
    batch_size = len(case.values)
    metrics = case.metrics if case.metrics is not None else np.repeat(PLATEAU_MIN[:, None], batch_size, axis=1)

    batch = jax.vmap(case.build)(jnp.asarray(case.values))
    assert batch.last_epoch.shape == (batch_size,)

    def body(b, ms):
        b = jax.vmap(lambda s, m: s.step(m))(b, ms)
        return b, (b.lr, _momentum(b))

    final, (lrs, moms) = jax.lax.scan(body, batch, jnp.asarray(metrics))
    lrs = np.concatenate([np.asarray(batch.lr)[None], np.asarray(lrs)])
    if moms is not None:
        moms = np.concatenate([np.asarray(batch.momentum)[None], np.asarray(moms)])

    distinct = set()
    for i in range(batch_size):
        member = case.build(_member_value(case.values, i))
        scheds = [member]
        for m in metrics[:, i]:
            member = member.step(float(m))
            scheds.append(member)
        member_lrs, member_moms = _trajectory(scheds)
        _assert_same_array(lrs[:, i], member_lrs, maxulp=case.maxulp)
        if member_moms is not None:
            _assert_same_array(moms[:, i], member_moms, maxulp=case.maxulp)
        # The final state (counters, best, children) matches too.
        final_i = jax.tree.map(lambda x: x[i], final)
        assert jax.tree.structure(final_i) == jax.tree.structure(member)
        for a, b in zip(jax.tree.leaves(final_i), jax.tree.leaves(member), strict=True):
            _assert_same_array(a, b, maxulp=case.maxulp)
        distinct.add(member_lrs.tobytes())
    # The hyperparameter matters: members differ.
    assert len(distinct) == batch_size


@pytest.mark.parametrize(
    "build",
    [
        lambda g: ss.ExponentialLR(0.1, gamma=0.9),  # nothing traced at all
        lambda g: ss.ExponentialLR(0.1, gamma=g),
        lambda g: ss.CosineAnnealingLR(g, T_max=10),
    ],
    ids=["constants", "traced-gamma", "traced-lr"],
)
def test_constructor_under_jit(build):
    """Building schedulers inside a jitted function (e.g. a jitted `vmap` over hyperparameters).

    (Regression: validation used to call `np.asarray` on the converted leaf, a tracer under jit.)
    """

    @jax.jit
    def lrs(g):
        sched = build(g)
        _, out = jax.lax.scan(lambda s, _: (s.step(), s.step().lr), sched, None, length=5)
        return out

    expected = [float(build(0.5).step().lr)]
    np.testing.assert_allclose(lrs(0.5)[0], expected[0], rtol=1e-6)
    batch = jax.jit(jax.vmap(build))(jnp.array([0.5, 0.25]))
    assert batch.lr.shape == (2,)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_constructor_traces_under_jit(case):
    """Every configuration can be built inside `jax.jit`, with the pytree it has eagerly."""
    eager = case.build()
    traced = jax.eval_shape(case.build)  # traces the constructor as jit does, without compiling
    assert _signature(traced)[0] == _signature(eager)[0]
    for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(eager), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)


# ----------------------------------------------------------------------------------------
# Compilation counting (last: it clears JAX's caches)


def test_eager_step_compiles_once_per_run():
    """Each configuration's eager `step` compiles once for a whole run, whatever the metric's type.

    One test over the whole table so the caches are cleared once: every configuration in
    the table is distinct, so each one's run starts cold and any recompilation (a metric
    of another dtype or weak type, a leaf changing type across steps) shows up as a
    function compiled twice.
    """
    runs = [(case, case.build(), _mixed_metrics(_metrics(case))) for case in CASES]
    jax.clear_caches()
    problems = {}
    for case, sched, metrics in runs:
        with _count_compiles() as counts:
            for m in metrics:
                sched = sched.step(m)
            jax.block_until_ready(sched)
        assert int(sched.last_epoch) == case.steps
        recompiled = {name: n for name, n in counts.items() if n > 1}
        if not counts:
            problems[case.id] = "nothing compiled from a cold cache (configuration not distinct?)"
        elif recompiled:
            problems[case.id] = f"compiled more than once in one run: {recompiled}"
    assert not problems, problems

    # A second run of any configuration compiles nothing at all.
    case = CASES[-1]
    again = case.build()
    metrics = _mixed_metrics(_metrics(case))
    with _count_compiles() as counts:
        for m in metrics:
            again = again.step(m)
    assert not counts, counts
