"""The performance properties of issue 5 that can be checked without a clock.

- `values(sched, n)` equals the stepped trajectory, refuses metric-watching schedulers, and
  compiles once per configuration and `n`;
- a sweep of K schedulers built with `jax.vmap` and stepped in one jitted `lax.scan` equals
  its members built and stepped one by one, and is vectorised: one trace, no loop over the
  members in the program, every value of the scan body batched over K;
- eager stepping does not accumulate memory, and the state is O(param groups) scalars;
- a run resumed from `eqx.tree_deserialise_leaves` compiles nothing new, eagerly or under jit.

Timings are in `benchmarks/performance.py`; nothing here measures time.
"""

import dataclasses
import gc
import io
import tracemalloc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from test_compiled import CASES, _count_compiles, _metrics, _mixed_metrics, _public_classes, _shrink, _warmup

import statefulsched as ss
from statefulsched._base import uses_metric
from statefulsched._curve import values
from statefulsched._fingerprint import walk
from statefulsched._schedulers import example_libraries as exl
from statefulsched._schedulers.function import FunctionScheduler

METRIC_FREE = [case for case in CASES if not uses_metric(case.build())]
METRIC_USERS = [case for case in CASES if uses_metric(case.build())]


def _read(sched, value: str, group: int | None = None) -> np.ndarray:
    array = np.asarray(getattr(sched, value))
    return array if group is None else array[group]


def _trajectory(sched, steps: int, value: str = "lr") -> tuple[list, np.ndarray]:
    """The schedulers after 0, 1, ..., steps - 1 eager steps, and their `value`s stacked.

    Stepped with a (constant, ignored) metric, like every eager run in this module, so they all
    share one compiled step per configuration.
    """
    scheds = [sched]
    for _ in range(steps - 1):
        scheds.append(scheds[-1].step(1.0))
    return scheds, np.stack([_read(s, value) for s in scheds])


# ----------------------------------------------------------------------------------------
# `values`


@pytest.mark.parametrize("case", METRIC_FREE, ids=repr)
def test_values_equal_the_stepped_trajectory_and_compile_once(case):
    n = 40
    sched = case.build()
    scheds, lrs = _trajectory(sched, case.steps)
    with _count_compiles() as first:
        curve = values(sched, n)
    # Rows are the values after 0, 1, ... more steps; row 0 is the current value exactly.
    assert curve.shape == (n, *sched.lr.shape) and curve.dtype == sched.lr.dtype
    np.testing.assert_array_equal(curve[0], sched.lr)
    np.testing.assert_allclose(curve, lrs[:n], rtol=1e-6, atol=0)
    # From a later state and from a freshly built scheduler: no new compilation.
    with _count_compiles() as again:
        later = values(scheds[20], n)
        fresh = values(case.build(), n)
    np.testing.assert_allclose(later, lrs[20 : 20 + n], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(fresh, curve)
    assert sum(first.values()) <= 1, first  # 0 if an earlier test compiled this configuration and `n`
    assert not again, again
    if getattr(sched, "momentum", None) is not None:
        _, moms = _trajectory(sched, n, "momentum")
        np.testing.assert_allclose(values(sched, n, value="momentum"), moms, rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", METRIC_USERS, ids=repr)
def test_values_refuse_metric_schedulers(case):
    with pytest.raises(ValueError, match=r"steps on a metric, so its values are not a function of the step count"):
        values(case.build(), 10)


def test_values_compile_once_per_n_and_inside_transformations():
    sched = ss.MultiplicativeLR(0.1, lambda t: 0.9)  # a recurrence: the `lax.scan` path
    closed = ss.OneCycleLR(0.1, total_steps=50)  # a closed form: the vectorised path
    for s in (sched, closed):
        stepped = s.step()
        with _count_compiles() as counts:
            a = values(s, 23)
            b = values(stepped, 23)
            c = values(s, 31)
        assert sum(counts.values()) == 2, counts  # one per `n`
        np.testing.assert_array_equal(a[1:], b[:-1])
        np.testing.assert_array_equal(c[:23], a)
    # Under `jax.jit` and `jax.vmap` (a batch of 3), equal to the eager curves.
    np.testing.assert_array_equal(jax.jit(lambda s: values(s, 23))(sched), values(sched, 23))
    batch = jax.vmap(lambda m: ss.OneCycleLR(m, total_steps=50))(jnp.array([0.1, 0.2, 0.4], jnp.float32))
    curves = jax.vmap(lambda s: values(s, 23))(batch)
    assert curves.shape == (3, 23)
    for i, m in enumerate([0.1, 0.2, 0.4]):
        np.testing.assert_allclose(
            curves[i], values(ss.OneCycleLR(float(np.float32(m)), total_steps=50), 23), rtol=1e-6
        )


def test_values_edge_cases_and_errors():
    sched = ss.StepLR([0.1, 0.2], step_size=2)
    assert values(sched, 0).shape == (0, 2)
    np.testing.assert_array_equal(values(sched, 1), sched.lr[None])
    np.testing.assert_allclose(values(sched, np.int64(3), group=1), values(sched, 3)[:, 1], rtol=1e-6)
    with pytest.raises(ValueError, match=r"`values\(n=\.\.\.\)` must be a non-negative integer, got -1"):
        values(sched, -1)
    with pytest.raises(TypeError, match=r"`values\(n=\.\.\.\)` must be a non-negative"):
        values(sched, 2.5)
    with pytest.raises(TypeError, match=r"`values\(n=\.\.\.\)` must be a non-negative"):
        values(sched, True)
    with pytest.raises(ValueError, match=r"`values\(group=\.\.\.\)` must index a param group; `StepLR` has 2"):
        values(sched, 3, group=2)
    with pytest.raises(ValueError, match=r'`values\(value="momentum"\)`: `StepLR` cycles no momentum'):
        values(sched, 3, value="momentum")
    with pytest.raises(ValueError, match=r'`values\(value=\.\.\.\)` must be "lr" or "momentum"'):
        values(sched, 3, value="beta")
    with pytest.raises(TypeError, match=r"`values` takes a statefulsched scheduler, got function"):
        values(lambda t: t, 3)
    # Where stepping raises, so does `values`: OneCycleLR cannot go past `total_steps`.
    with pytest.raises(ValueError, match=r"OneCycleLR"):
        values(ss.OneCycleLR(0.1, total_steps=10), 12)
    values(ss.OneCycleLR(0.1, total_steps=10), 11)


def test_values_check_the_static_configuration_like_step():
    saved = ss.OneCycleLR(0.1, total_steps=20, anneal_strategy="linear")
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, saved)
    buffer.seek(0)
    wrong = eqx.tree_deserialise_leaves(buffer, ss.OneCycleLR(0.1, total_steps=20, anneal_strategy="cos"))
    with pytest.raises(ValueError, match=r"static configuration"):
        values(wrong, 5)
    with pytest.raises((ValueError, RuntimeError), match=r"static configuration"):
        jax.block_until_ready(jax.jit(lambda s: values(ss.verify(s), 5))(wrong))


# The one scheduler whose traced step keeps a check (an `eqx.error_if`, i.e. a host
# callback): FunctionScheduler, on a non-finite lr from the user's function.
_RAISING_STEP = ("FunctionScheduler",)


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    names |= _primitives(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    names |= _primitives(sub)
    return names


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_a_traced_step_holds_no_host_callback(case):
    """Zero overhead inside jit: the traced step is the computation alone, no check with a callback.

    A host callback costs about a microsecond per `lax.scan` iteration on CPU and makes
    every jitted call wait for its result; the fingerprint is checked eagerly and by
    `ss.verify` instead.
    """
    sched = case.build()
    metric = jnp.asarray(1.0, sched.lr.dtype)
    names = _primitives(jax.make_jaxpr(lambda s, m: s.step(m))(sched, metric).jaxpr)
    callbacks = {name for name in names if "callback" in name}
    if any(type(node).__name__ in _RAISING_STEP for node in walk(sched)):
        assert callbacks, "the check on a non-finite lr must stay"
    else:
        assert not callbacks, f"{case!r}: {sorted(names)}"


# ----------------------------------------------------------------------------------------
# Sweeps: K schedulers built with `jax.vmap`, stepped together in a jitted `lax.scan`

K = 64
T = 30
MEMBERS = (0, K - 1)  # spot-checked against schedulers built and stepped alone


def _floats(lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo, hi, K, dtype=np.float32)  # members get the same rounded values


def _ints(lo: int, hi: int) -> np.ndarray:
    return (lo + np.arange(K) % (hi - lo)).astype(np.int32)


def _increasing_ints(count: int) -> np.ndarray:
    """K strictly increasing rows of `count` step counts below `T`."""
    rng = np.random.default_rng(0)
    first = rng.integers(0, 12, (K, 1))
    gaps = rng.integers(1, 10, (K, count - 1))
    return np.concatenate([first, first + np.cumsum(gaps, axis=1)], axis=1).astype(np.int32)


def _plateau_metrics() -> np.ndarray:
    # Member k improves until step 2 + k % 20, then plateaus.
    i = np.arange(T)[:, None]
    stall = 2 + np.arange(K)[None, :] % 20
    return np.where(i < stall, 1.0 - 0.02 * i, 0.9 - 0.02 * stall).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Sweep:
    id: str
    build: Callable[[Any], ss.AbstractScheduler]
    hyper: np.ndarray
    metrics: np.ndarray | None = None  # (T, K); None: stepped without a metric
    # A `FunctionScheduler` closing over a batched value must be built and stepped inside
    # the same `vmap` (see its docstring), so that sweep vmaps the whole run.
    inside: bool = False
    rtol: float = 1e-6

    def __repr__(self):
        return self.id


def _sgdr(p):
    return ss.optax.SGDRSchedule([dict(init_value=0.0, peak_value=p, warmup_steps=3, decay_steps=10)] * 3)


def _geometric(p):
    return FunctionScheduler(lambda t: p * 0.9**t)


SWEEPS = [
    Sweep("LambdaLR-lr", lambda lr: ss.LambdaLR(lr, _warmup), _floats(0.01, 1.0)),
    Sweep("MultiplicativeLR-lr", lambda lr: ss.MultiplicativeLR(lr, _shrink), _floats(0.01, 1.0)),
    Sweep("StepLR-gamma", lambda g: ss.StepLR(0.1, step_size=4, gamma=g), _floats(0.1, 0.99)),
    Sweep("MultiStepLR-milestones", lambda ms: ss.MultiStepLR(0.1, ms, gamma=0.5), _increasing_ints(3)),
    Sweep("ConstantLR-factor", lambda f: ss.ConstantLR(0.1, factor=f, total_iters=10), _floats(0.05, 1.0)),
    Sweep("LinearLR-warmup", lambda n: ss.LinearLR(0.1, start_factor=0.1, total_iters=n), _ints(1, 40)),
    # gamma enters through its log, taken in float64 for a Python gamma, float32 for a traced one.
    Sweep("ExponentialLR-gamma", lambda g: ss.ExponentialLR(0.1, gamma=g), _floats(0.5, 0.99), rtol=2e-5),
    Sweep("PolynomialLR-power", lambda p: ss.PolynomialLR(0.1, total_iters=25, power=p), _floats(0.5, 3.0)),
    Sweep("CosineAnnealingLR-T_max", lambda n: ss.CosineAnnealingLR(0.1, T_max=n), _ints(1, 50)),
    Sweep("CosineAnnealingWarmRestarts-T_0", lambda n: ss.CosineAnnealingWarmRestarts(0.1, n, T_mult=2), _ints(1, 12)),
    Sweep("CyclicLR-max_lr", lambda m: ss.CyclicLR(0.01, m, step_size_up=4), _floats(0.05, 1.0)),
    Sweep("OneCycleLR-max_lr", lambda m: ss.OneCycleLR(m, total_steps=T), _floats(0.01, 1.0)),
    Sweep("SWALR-swa_lr", lambda s: ss.SWALR(0.1, swa_lr=s, anneal_epochs=8), _floats(0.0, 0.5)),
    Sweep(
        "ReduceLROnPlateau-patience",
        lambda p: ss.ReduceLROnPlateau(0.1, patience=p, factor=0.5),
        _ints(0, 8),
        metrics=_plateau_metrics(),
    ),
    Sweep(
        "SequentialLR-milestones",
        lambda ms: ss.SequentialLR(
            [
                ss.LinearLR(0.1, start_factor=0.1, total_iters=10),
                ss.ExponentialLR(0.1, gamma=0.9),
                ss.CosineAnnealingLR(0.1, T_max=15),
            ],
            milestones=ms,
        ),
        _increasing_ints(2),
    ),
    Sweep(
        "ChainedScheduler-total_iters",
        lambda n: ss.ChainedScheduler([ss.ConstantLR(0.1, factor=0.5, total_iters=n), ss.StepLR(0.1, step_size=7)]),
        _ints(1, 30),
    ),
    Sweep("FunctionScheduler-scale", _geometric, _floats(0.01, 1.0), inside=True),
    Sweep("optax.ConstantSchedule-value", ss.optax.ConstantSchedule, _floats(0.01, 1.0)),
    Sweep("optax.LinearSchedule-end_value", lambda e: ss.optax.LinearSchedule(0.1, e, 20, 2), _floats(0.0, 1.0)),
    Sweep(
        "optax.PolynomialSchedule-end_value",
        lambda e: ss.optax.PolynomialSchedule(0.1, e, power=2, transition_steps=20),
        _floats(0.0, 0.05),
    ),
    Sweep(
        "optax.ExponentialDecay-decay_rate",
        lambda r: ss.optax.ExponentialDecay(0.1, 7, r, 3, False, 0.01),
        _floats(0.5, 1.1),
    ),
    Sweep(
        "optax.WarmupConstantSchedule-peak_value",
        lambda p: ss.optax.WarmupConstantSchedule(0.0, p, 10),
        _floats(0.01, 1.0),
    ),
    Sweep(
        "optax.WarmupExponentialDecaySchedule-peak_value",
        lambda p: ss.optax.WarmupExponentialDecaySchedule(0.0, p, 5, 5, 0.9),
        _floats(0.01, 1.0),
    ),
    Sweep("optax.CosineDecaySchedule-init_value", lambda v: ss.optax.CosineDecaySchedule(v, 25), _floats(0.01, 1.0)),
    Sweep(
        "optax.WarmupCosineDecaySchedule-peak_value",
        lambda p: ss.optax.WarmupCosineDecaySchedule(0.0, p, 10, 40),
        _floats(0.0, 1.0),
    ),
    Sweep("optax.SGDRSchedule-peak_value", _sgdr, _floats(0.01, 1.0)),
    Sweep(
        "optax.CosineOnecycleSchedule-peak_value", lambda p: ss.optax.CosineOnecycleSchedule(40, p), _floats(0.01, 1.0)
    ),
    Sweep(
        "optax.LinearOnecycleSchedule-peak_value", lambda p: ss.optax.LinearOnecycleSchedule(40, p), _floats(0.01, 1.0)
    ),
    Sweep(
        "optax.PiecewiseConstantSchedule-init_value",
        lambda v: ss.optax.PiecewiseConstantSchedule(v, {10: 0.5, 20: 0.2}),
        _floats(0.01, 1.0),
    ),
    Sweep(
        "optax.PiecewiseInterpolateSchedule-scale",
        lambda s: ss.optax.PiecewiseInterpolateSchedule("cosine", 0.1, {10: s, 20: 0.5}),
        _floats(0.1, 2.0),
    ),
    Sweep(
        "optax.JoinSchedules-boundaries",
        lambda b: ss.optax.JoinSchedules(
            [ss.optax.ConstantSchedule(0.1), ss.optax.CosineDecaySchedule(0.2, 15), ss.optax.ConstantSchedule(0.01)], b
        ),
        _increasing_ints(2),
    ),
    Sweep("example_libraries.Constant-step_size", exl.Constant, _floats(0.01, 1.0)),
    Sweep(
        "example_libraries.ExponentialDecay-decay_rate",
        lambda r: exl.ExponentialDecay(0.1, 10, r),
        _floats(0.5, 1.1),
    ),
    Sweep(
        "example_libraries.InverseTimeDecay-decay_rate",
        lambda r: exl.InverseTimeDecay(0.1, 10, r),
        _floats(0.0, 3.0),
    ),
    Sweep(
        "example_libraries.PolynomialDecay-power",
        lambda p: exl.PolynomialDecay(0.1, 25, 1e-3, power=p),
        _floats(0.0, 3.0),
    ),
    Sweep(
        "example_libraries.PiecewiseConstant-boundaries",
        lambda b: exl.PiecewiseConstant(b, [0.1, 0.01, 0.001]),
        _increasing_ints(2),
    ),
]


def test_sweeps_cover_every_scheduler_class():
    built = {type(sweep.build(_member_value(sweep.hyper, 0))) for sweep in SWEEPS}
    assert built == _public_classes()


def _member_value(hyper: np.ndarray, i: int) -> Any:
    return hyper[i].tolist()


def _step(sched, metric):
    return sched.step(metric)


def _with_lr(sched):
    return sched, sched.lr


_LOOPS = ("scan", "while")


def _walk_jaxpr(jaxpr):
    """Every equation of `jaxpr` and of the jaxprs nested in its equations (cond branches, pjit, ...)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    yield from _walk_jaxpr(inner)


@pytest.mark.parametrize("sweep", SWEEPS, ids=repr)
def test_sweep_is_vectorised_and_equals_its_members(sweep):
    metrics = jnp.asarray(sweep.metrics if sweep.metrics is not None else np.ones((T, K), np.float32))
    traces = 0

    def run(hyper, ms):
        nonlocal traces
        traces += 1
        if sweep.inside:
            per_member = jax.vmap(lambda h, m: lax.scan(lambda s, x: _with_lr(s.step(x)), sweep.build(h), m))
            first = jax.vmap(lambda h: sweep.build(h).lr)(hyper)
            final, lrs = per_member(hyper, ms.T)
            return final, jnp.concatenate([first[:, None], lrs], axis=1).T
        batch = jax.vmap(sweep.build)(hyper)
        final, lrs = lax.scan(lambda b, m: _with_lr(jax.vmap(_step)(b, m)), batch, ms)
        return final, jnp.concatenate([batch.lr[None], lrs])

    args = (jnp.asarray(sweep.hyper), metrics)
    compiled = jax.jit(run)
    final, lrs = compiled(*args)
    compiled(jnp.asarray(sweep.hyper[::-1]), metrics)  # another sweep of the same kind: no new trace
    assert traces == 1 and final.last_epoch.shape == (K,)

    # The program steps all members in one scan over the steps, whose every output is batched
    # over the K members. A loop inside its body (`optax.PolynomialSchedule` multiplies out an
    # integer power in a `while_loop`) must carry all K members at once, and nowhere is there
    # a scan over the members (`lax.map`).
    jaxpr = jax.make_jaxpr(run)(*args).jaxpr
    loops = [eqn for eqn in jaxpr.eqns if eqn.primitive.name in _LOOPS]
    assert not [eqn for eqn in _walk_jaxpr(jaxpr) if eqn.primitive.name == "scan" and eqn.params["length"] == K]
    steps = [eqn for eqn in loops if eqn.primitive.name == "scan" and eqn.params["length"] == T]
    assert len(steps) == 1, loops
    body = steps[0].params["jaxpr"].jaxpr
    for inner in (eqn for eqn in _walk_jaxpr(body) if eqn.primitive.name in _LOOPS):
        assert all(v.aval.shape[:1] == (K,) for v in inner.outvars), (inner.primitive, inner.outvars)
    shapes = [v.aval.shape for v in body.outvars]
    if sweep.inside:  # the step counter, the same for all members, may stay unbatched
        assert all(shape[:1] == (K,) or shape == () for shape in shapes) and shapes[-1] == (K,), shapes
    else:
        assert shapes and all(shape[:1] == (K,) for shape in shapes), shapes

    lrs = np.asarray(lrs)
    assert lrs.shape[:2] == (T + 1, K)
    distinct = len({row.tobytes() for row in sweep.hyper})
    assert len({lrs[:, i].tobytes() for i in range(K)}) >= min(distinct, 8)  # the hyperparameter matters
    for i in MEMBERS:
        member = sweep.build(_member_value(sweep.hyper, i))
        member_lrs = [np.asarray(member.lr)]
        for m in np.asarray(metrics[:, i]):
            member = member.step(float(m))  # metric-free schedulers ignore it
            member_lrs.append(np.asarray(member.lr))
        np.testing.assert_allclose(lrs[:, i], np.stack(member_lrs), rtol=sweep.rtol, atol=0, err_msg=f"member {i}")
        final_i = jax.tree.map(lambda x: x[i], final)
        assert int(final_i.last_epoch) == int(member.last_epoch) == T


# ----------------------------------------------------------------------------------------
# Memory


def _state_size(sched) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(sched))


@pytest.mark.parametrize(
    "build,metric",
    [
        (lambda: ss.StepLR(0.1, step_size=30), None),
        (lambda: ss.ReduceLROnPlateau(0.1, patience=3), 1.0),
        (
            lambda: ss.SequentialLR(
                [ss.LinearLR(0.1, start_factor=0.1, total_iters=50), ss.CosineAnnealingLR(0.1, T_max=100)], [50]
            ),
            None,
        ),
    ],
    ids=["StepLR", "ReduceLROnPlateau", "SequentialLR"],
)
def test_eager_stepping_does_not_accumulate_memory(build, metric):
    sched = build()
    size = _state_size(sched)

    def run(sched, steps):
        for i in range(steps):
            sched = sched.step(None if metric is None else metric + (i % 5) * 0.1)
        return jax.block_until_ready(sched)

    sched = run(sched, 200)  # warm-up: compiles, fills the caches
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        sched = run(sched, 10_000)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A leak of one small object per step would be several hundred KiB.
    assert end - start < 32 * 1024, f"{end - start} bytes more after 10,000 steps"
    assert _state_size(sched) == size and int(sched.last_epoch) == 10_200


GROUPED: list[tuple[str, Callable[[list[float]], ss.AbstractScheduler]]] = [
    ("StepLR", lambda lr: ss.StepLR(lr, step_size=3)),
    ("CosineAnnealingLR", lambda lr: ss.CosineAnnealingLR(lr, T_max=10)),
    ("OneCycleLR", lambda lr: ss.OneCycleLR(lr, total_steps=20)),
    ("CyclicLR", lambda lr: ss.CyclicLR([x / 10 for x in lr], lr, step_size_up=3)),
    ("ReduceLROnPlateau", lambda lr: ss.ReduceLROnPlateau(lr, patience=2, min_lr=[0.0] * len(lr))),
    (
        "SequentialLR",
        lambda lr: ss.SequentialLR([ss.LinearLR(lr, total_iters=4), ss.ExponentialLR(lr, gamma=0.9)], [4]),
    ),
]


@pytest.mark.parametrize("build", [b for _, b in GROUPED], ids=[name for name, _ in GROUPED])
def test_state_is_a_few_scalars_per_param_group(build):
    # Affine in the number of groups: a few scalars each, plus a few shared ones.
    one, two, eight = (_state_size(build([0.1] * g)) for g in (1, 2, 8))
    per_group = two - one
    assert 1 <= per_group <= 8 and one <= 32
    assert eight == one + 7 * per_group


# ----------------------------------------------------------------------------------------
# Compilation across a resume (the rest of point 5 is in test_compiled.py and test_checkpoint.py)


def _signature(sched) -> tuple:
    leaves, treedef = jax.tree.flatten(sched)
    return treedef, [(type(x), x.shape, x.dtype, x.weak_type, x.committed) for x in leaves]


def _round_trip(sched, like):
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, sched)
    buffer.seek(0)
    return eqx.tree_deserialise_leaves(buffer, like)


def test_resumed_runs_compile_nothing_new_eagerly():
    """For every configuration: after a `tree_deserialise_leaves` round trip, the eager step (with
    the metric alternating Python float, NumPy, strong and weak JAX scalars) and `values` reuse
    what the run before the save compiled; and the state has kept its size."""
    problems = {}
    for case in CASES:
        metrics = _mixed_metrics(_metrics(case)[:16])
        sched = case.build()
        for m in metrics[:8]:  # every kind of metric, twice
            sched = sched.step(m)
        free = not uses_metric(sched)
        if free:
            before = values(sched, 40)  # the `n` of the first test here, so usually compiled already
        restored = _round_trip(sched, case.build())
        if _signature(restored) != _signature(sched):
            problems[case.id] = "the restored scheduler's pytree differs"
            continue
        with _count_compiles() as counts:
            for m in metrics[8:]:
                restored = restored.step(m)
            if free:
                np.testing.assert_array_equal(values(_round_trip(sched, case.build()), 40), before)
            jax.block_until_ready(restored)
        if counts:
            problems[case.id] = dict(counts)
        elif _state_size(restored) != _state_size(case.build()):  # O(groups), whatever the step count
            problems[case.id] = "the state grew"
    assert not problems, problems


RESUMED_UNDER_JIT = [
    case
    for case in CASES
    if case.id
    in (
        "OneCycleLR",
        "CosineAnnealingWarmRestarts",
        "SequentialLR(LinearLR,ReduceLROnPlateau)",
        "ChainedScheduler(CosineAnnealingLR,ReduceLROnPlateau)",
        "optax.JoinSchedules",
        "example_libraries.FunctionScheduler",
    )
]


def test_resumed_runs_do_not_retrace_a_jitted_train_step():
    assert len(RESUMED_UNDER_JIT) == 6
    traces = 0

    @jax.jit
    def train_step(w, sched, x):
        nonlocal traces
        traces += 1
        loss = jnp.mean((w * x - 1.0) ** 2)
        w = w - sched.lr.mean() * jax.grad(lambda w: jnp.mean((w * x - 1.0) ** 2))(w)
        return w, sched.step(loss)

    x = jnp.linspace(0.0, 1.0, 8)
    for case in RESUMED_UNDER_JIT:
        traces = 0
        w, sched = jnp.zeros(8), case.build()
        for _ in range(5):
            w, sched = train_step(w, sched, x)
        restored = _round_trip(sched, case.build())
        with _count_compiles() as counts:
            for _ in range(5):
                w, restored = train_step(w, restored, x)
            jax.block_until_ready(restored)
        assert traces == 1 and not counts, (case.id, traces, dict(counts))
