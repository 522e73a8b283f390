"""torch-style `state_dict()` / `load_state_dict()`.

- Migration of a running torch job: torch runs `k` steps, its `state_dict()` goes through
  `torch.save`/`torch.load`, ours is built with the same arguments and loads it, then both
  continue and must give the same lrs (and momenta) at every step.
- Export back to torch: ours runs `k` steps, its `state_dict()` goes through JSON into a fresh
  torch scheduler, and both continue alike.
- Round trips ours -> JSON -> ours are exact, leaf for leaf, for every configuration of the
  other test tables, and the loaded scheduler reuses the compiled step.
- Dicts of another class, configuration or group count, or missing and garbled ones raise a
  `ValueError` naming what differs.
"""

import collections
import contextlib
import io
import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import Spec, build_ours, build_torch
from test_compiled import CASES

import statefulsched as ss

S = Spec
N_AFTER = 15  # steps both schedulers continue for after a load
TOL = {"float32": (1e-5, 1e-10), "float64": (1e-9, 1e-15)}

try:
    from test_example_libraries import EXAMPLE_LIBRARIES_CASES
except ImportError:  # pragma: no cover - the module belongs to another part of the project
    EXAMPLE_LIBRARIES_CASES = []
try:
    from test_optax_schedules import OPTAX_CASES
except ImportError:  # pragma: no cover
    OPTAX_CASES = []


# Module-level functions: a jnp version for us and a Python one for torch where they differ.
def _warmup(t):
    return jnp.minimum(1.0, (t + 1) / 10)


def _warmup_py(t):
    return min(1.0, (t + 1) / 10)


def _decay(t):
    return 0.9**t


def _shrink(t):
    return jnp.where(t < 20, 0.95, 1.0)


def _shrink_py(t):
    return 0.95 if t < 20 else 1.0


def _halve_per_cycle(x):
    return 1 / (2.0 ** (x - 1))


# Improves, stalls (a reduction at step 5, cooldown to 8), improves, stalls again (step 11)...
PLATEAU = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0] + [2.5] * 30


def _lam():
    return S("LambdaLR", dict(lr_lambda=[_warmup, _decay]), torch_kwargs=dict(lr_lambda=[_warmup_py, _decay]))


def _mult():
    return S("MultiplicativeLR", dict(lr_lambda=_shrink), torch_kwargs=dict(lr_lambda=_shrink_py))


def _seq_warmup_cosine():
    children = [S("LinearLR", dict(start_factor=0.1, total_iters=5)), S("CosineAnnealingLR", dict(T_max=20))]
    return S("SequentialLR", dict(milestones=[5]), children)


def _seq_swa():
    children = [
        S("ConstantLR", dict(factor=0.5, total_iters=10)),
        _mult(),
        S("SWALR", dict(swa_lr=0.02, anneal_epochs=4)),
    ]
    return S("SequentialLR", dict(milestones=[3, 8]), children)


def _seq_from_milestone_0():
    children = [S("ExponentialLR", dict(gamma=0.5)), _lam(), S("StepLR", dict(step_size=2))]
    return S("SequentialLR", dict(milestones=[0, 4]), children)


_SEQ_SWA = "SequentialLR(ConstantLR,MultiplicativeLR,SWALR)"
# (id, spec, lr (None: built from the spec's own lrs), steps k before the migration, Adam?, metrics)
MIGRATIONS = [
    ("LambdaLR", _lam(), [0.1, 0.2], [0, 5, 12], False, None),
    ("MultiplicativeLR", _mult(), [0.1, 0.3], [0, 7, 19, 25], False, None),
    ("StepLR", S("StepLR", dict(step_size=5, gamma=0.5)), [0.1, 0.02], [0, 4, 5, 13], False, None),
    ("MultiStepLR", S("MultiStepLR", dict(milestones=[3, 8, 8, 15], gamma=0.3)), 0.1, [0, 3, 9], False, None),
    ("ConstantLR", S("ConstantLR", dict(factor=0.25, total_iters=6)), [0.1, 0.2], [0, 5, 6], False, None),
    ("LinearLR", S("LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=10)), 0.1, [0, 4, 10], False, None),
    ("ExponentialLR", S("ExponentialLR", dict(gamma=0.9)), [0.1, 0.05], [0, 17], False, None),
    ("PolynomialLR", S("PolynomialLR", dict(total_iters=12, power=2.0)), 0.1, [0, 6, 12], False, None),
    (
        "CosineAnnealingLR",
        S("CosineAnnealingLR", dict(T_max=10, eta_min=1e-3)),
        [0.1, 0.3],
        [0, 9, 10, 15],
        False,
        None,
    ),
    (
        "CosineAnnealingWarmRestarts",
        S("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=1e-3)),
        [0.1, 0.2],
        [0, 3, 4, 11, 12],
        False,
        None,
    ),
    (
        "CyclicLR",
        S("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
        None,
        [0, 7, 8, 17],
        False,
        None,
    ),
    (
        "CyclicLR-exp_range-adam",
        S("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=4, mode="exp_range", gamma=0.97)),
        None,
        [0, 10],
        True,
        None,
    ),
    (
        "CyclicLR-scale_fn",
        S("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=_halve_per_cycle)),
        None,
        [0, 7],
        False,
        None,
    ),
    (
        "OneCycleLR-three_phase",
        S("OneCycleLR", dict(max_lr=[0.1, 0.2], total_steps=40, three_phase=True, anneal_strategy="linear")),
        None,
        [0, 11, 12, 25],
        False,
        None,
    ),
    ("OneCycleLR-adam", S("OneCycleLR", dict(max_lr=0.01, total_steps=30)), None, [0, 8, 15], True, None),
    (
        "ReduceLROnPlateau",
        S("ReduceLROnPlateau", dict(patience=2, cooldown=3, factor=0.5, min_lr=[0.001, 0.01])),
        [0.1, 0.05],
        [0, 6, 7, 9, 10],  # 6 and 7: mid-cooldown; 9 and 10: mid-patience
        False,
        PLATEAU,
    ),
    ("SWALR", S("SWALR", dict(swa_lr=[0.01, 0.2], anneal_epochs=5)), [0.1, 0.3], [0, 3, 5, 9], False, None),
    ("SequentialLR(LinearLR,CosineAnnealingLR)", _seq_warmup_cosine(), 0.1, [0, 4, 5, 6, 20], False, None),
    (_SEQ_SWA, _seq_swa(), [0.1, 0.2], [0, 3, 8, 12], False, None),
    ("SequentialLR-milestone0", _seq_from_milestone_0(), [0.1, 0.2], [0, 3, 4, 10], False, None),
    (
        "ChainedScheduler(ConstantLR,ExponentialLR)",
        S(
            "ChainedScheduler",
            {},
            [S("ConstantLR", dict(factor=0.5, total_iters=4)), S("ExponentialLR", dict(gamma=0.9))],
        ),
        [0.1, 0.2],
        [0, 3, 12],
        False,
        None,
    ),
    (
        "ChainedScheduler(CosineAnnealingLR,ExponentialLR)",
        S("ChainedScheduler", {}, [S("CosineAnnealingLR", dict(T_max=6)), S("ExponentialLR", dict(gamma=0.9))]),
        0.1,
        [0, 7],
        False,
        None,
    ),
]
_IDS = [m[0] for m in MIGRATIONS]
_TORCH_CLASSES = {
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
    "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR",
    "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler", "SWALR",
}  # fmt: skip


def test_migrations_cover_every_torch_scheduler():
    assert {spec.name for _, spec, *_ in MIGRATIONS} == _TORCH_CLASSES


def _torch_groups(spec: Spec, lr) -> list[float]:
    if spec.takes_lr:
        return list(lr) if isinstance(lr, list) else [lr]
    values = [spec.kwargs.get(key) for key in ("base_lr", "max_lr")]
    return [0.5] * max(len(v) if isinstance(v, list) else 1 for v in values)


def _metrics(metrics, start: int, n: int) -> list:
    return [None] * n if metrics is None else list(metrics[start : start + n])


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "step before optimizer.step" and friends
        yield


class _TorchRun:
    """A torch optimizer and scheduler, stepped as in a training loop."""

    def __init__(self, spec: Spec, lrs: list[float], beta: bool):
        params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
        self.beta = beta
        self.optimizer = torch.optim.Adam(params) if beta else torch.optim.SGD(params, lr=lrs[0], momentum=0.9)
        with _quiet():
            self.sched = build_torch(spec, self.optimizer)

    def step(self, metric) -> None:
        with _quiet():
            self.optimizer.step()
            if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.sched.step(metric)
            else:
                self.sched.step()

    def lr(self) -> np.ndarray:
        return np.asarray([g["lr"] for g in self.optimizer.param_groups])

    def momentum(self) -> np.ndarray:
        key = "betas" if self.beta else "momentum"
        return np.asarray([g[key][0] if self.beta else g[key] for g in self.optimizer.param_groups])

    def saved(self) -> dict:
        """`state_dict()` through `torch.save` and `torch.load`, as from a checkpoint file."""
        buffer = io.BytesIO()
        torch.save(self.sched.state_dict(), buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=True)


def _compare_runs(ours, run: _TorchRun, metrics: list, precision: str, what: str, momentum_from: int = 0) -> None:
    """Step both `len(metrics)` times, comparing lr (and momentum) before and after every step."""
    rtol, atol = TOL[precision]
    for i in range(len(metrics) + 1):
        if i > 0:
            ours = ours.step(metrics[i - 1])
            run.step(metrics[i - 1])
        expected = run.lr()
        scale = max(float(np.max(np.abs(expected))), 1e-300)
        np.testing.assert_allclose(np.atleast_1d(ours.lr), expected, rtol=rtol, atol=atol * scale, err_msg=what)
        if getattr(ours, "momentum", None) is not None and i >= momentum_from:
            np.testing.assert_allclose(np.atleast_1d(ours.momentum), run.momentum(), rtol=rtol, atol=atol, err_msg=what)


def _migrate(spec, lr, k, beta, metrics, precision):
    run = _TorchRun(spec, _torch_groups(spec, lr), beta)
    for m in _metrics(metrics, 0, k):
        run.step(m)
    state = run.saved()
    fresh = build_ours(spec, lr)
    ours = fresh.load_state_dict(state)
    assert int(ours.last_epoch) == k and int(fresh.last_epoch) == 0
    assert jax.tree.structure(ours) == jax.tree.structure(fresh)
    _compare_runs(ours, run, _metrics(metrics, k, N_AFTER), precision, f"{spec!r} from step {k}")
    return state


@pytest.mark.parametrize(
    "spec,lr,k,beta,metrics",
    [pytest.param(*m[1:3], k, *m[4:], id=f"{m[0]}-k{k}") for m in MIGRATIONS for k in m[3]],
)
def test_migrate_running_torch_job(spec, lr, k, beta, metrics):
    state = _migrate(spec, lr, k, beta, metrics, "float32")
    if spec.name == "ReduceLROnPlateau" and k in (6, 7):
        assert state["cooldown_counter"] > 0
    if spec.name == "ReduceLROnPlateau" and k in (9, 10):
        assert state["num_bad_epochs"] > 0 and state["cooldown_counter"] == 0


@pytest.mark.parametrize("spec,lr,ks,beta,metrics", [m[1:] for m in MIGRATIONS], ids=_IDS)
def test_migrate_running_torch_job_x64(spec, lr, ks, beta, metrics, x64):
    _migrate(spec, lr, ks[len(ks) // 2], beta, metrics, "float64")


def test_migrate_swalr_started_after_another_scheduler():
    """torch's usual SWA set-up: SWALR anneals from the lr another scheduler left (swa_utils' docstring)."""
    from torch.optim import lr_scheduler, swa_utils

    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    with _quiet():
        decay = lr_scheduler.MultiplicativeLR(optimizer, lr_lambda=lambda t: 0.9)
        swa = swa_utils.SWALR(optimizer, swa_lr=0.01, anneal_epochs=6)
        for _ in range(10):
            optimizer.step()
            decay.step()
        start = optimizer.param_groups[0]["lr"]
        for _ in range(3):
            optimizer.step()
            swa.step()
    state = swa.state_dict()
    # Built with the optimizer's lr, ours would anneal from 0.1: the load says which lr to use.
    with pytest.raises(ValueError, match=r"`_last_lr` is .* build it with `lr=0\.0348678") as info:
        ss.SWALR(0.1, swa_lr=0.01, anneal_epochs=6).load_state_dict(state)
    assert "SWALR.load_state_dict" in str(info.value)
    ours = ss.SWALR(start, swa_lr=0.01, anneal_epochs=6).load_state_dict(state)
    for _ in range(8):
        optimizer.step()
        with _quiet():
            swa.step()
        ours = ours.step()
        np.testing.assert_allclose(float(ours.lr), optimizer.param_groups[0]["lr"], rtol=1e-5)


# ---------------------------------------------------------------------------------------
# Export back to torch


def _for_torch(state):
    """What a JSON round trip needs before torch takes the dict back: JSON writes dict keys as
    strings, and torch's `MultiStepLR` looks its `milestones` (a `Counter`) up by int."""
    if isinstance(state, dict):
        return {
            key: collections.Counter({int(m): n for m, n in value.items()})
            if key == "milestones"
            else _for_torch(value)
            for key, value in state.items()
        }
    if isinstance(state, list):
        return [_for_torch(v) for v in state]
    return state


def _restore_optimizer_lr(run: _TorchRun, state: dict) -> None:
    """torch's schedulers read the lr from the optimizer, which `optimizer.load_state_dict` restores."""
    for group, lr in zip(run.optimizer.param_groups, state["_last_lr"]):
        group["lr"] = lr


@pytest.mark.parametrize(
    "spec,lr,k,beta,metrics",
    # The first k > 0 (for the composites: before a child has started) and the last.
    [pytest.param(*m[1:3], k, *m[4:], id=f"{m[0]}-k{k}") for m in MIGRATIONS for k in sorted({m[3][1], m[3][-1]})],
)
def test_export_to_torch(spec, lr, k, beta, metrics):
    ours = build_ours(spec, lr)
    for m in _metrics(metrics, 0, k):
        ours = ours.step(m)
    state = json.loads(json.dumps(ours.state_dict()))
    run = _TorchRun(spec, _torch_groups(spec, lr), beta)
    with _quiet():
        run.sched.load_state_dict(_for_torch(state))
    _restore_optimizer_lr(run, state)
    # torch keeps the momentum in the optimizer only, where the next step writes it.
    what = f"{spec!r} exported at step {k}"
    _compare_runs(ours, run, _metrics(metrics, k, N_AFTER), "float32", what, momentum_from=1)


@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR-three_phase", _SEQ_SWA])
def test_through_torch_and_back(name):
    """Ours -> torch, torch steps on (saving our extra key again) -> ours: read as torch's state."""
    _, spec, lr, ks, beta, metrics = MIGRATIONS[_IDS.index(name)]
    ours = build_ours(spec, lr)
    for _ in range(5):
        ours = ours.step()
    state = _for_torch(json.loads(json.dumps(ours.state_dict())))
    run = _TorchRun(spec, _torch_groups(spec, lr), beta)
    with _quiet():
        run.sched.load_state_dict(state)
    _restore_optimizer_lr(run, state)
    for _ in range(4):
        run.step(None)
    again = run.saved()
    assert "statefulsched" in again  # torch kept our key, now stale
    back = build_ours(spec, lr).load_state_dict(again)
    assert int(back.last_epoch) == 9
    _compare_runs(back, run, [None] * N_AFTER, "float32", repr(spec))


def test_torch_keeps_nothing_of_ours_but_the_key():
    """torch's `load_state_dict` copies the dict into `__dict__`: ours adds one attribute, read by nothing."""
    spec = S("StepLR", dict(step_size=3, gamma=0.5))
    run = _TorchRun(spec, [0.1], False)
    before = set(vars(run.sched))
    with _quiet():
        run.sched.load_state_dict(build_ours(spec, 0.1).step().state_dict())
    assert set(vars(run.sched)) - before == {"statefulsched"}


# ---------------------------------------------------------------------------------------
# Round trips ours -> JSON -> ours


def _plain_only(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_plain_only(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain_only(v) for k, v in value.items())
    return False


def _signature(sched):
    leaves, treedef = jax.tree.flatten(sched)
    return treedef, [(jnp.shape(x), jnp.result_type(x), getattr(x, "weak_type", None)) for x in leaves]


def _assert_identical(a, b, what):
    assert _signature(a) == _signature(b), what
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=what)


# `test_compiled.CASES` may already hold the optax-style and `jax.example_libraries`-style cases.
ROUND_TRIPS = [(case.id, case.build, case.metrics) for case in CASES]
ROUND_TRIPS += [
    (f"{prefix}.{name}", build, None)
    for prefix, cases in (("optax", OPTAX_CASES), ("example_libraries", EXAMPLE_LIBRARIES_CASES))
    for name, build in cases
    if f"{prefix}.{name}" not in {case.id for case in CASES}
]


@pytest.mark.parametrize("name,build,metrics", ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip_is_exact(name, build, metrics):
    metrics = [None] * 40 if metrics is None else [float(m) for m in metrics[:40]]
    sched = fresh = build()
    before = [np.array(x, copy=True) for x in jax.tree.leaves(fresh)]
    for k in range(24):
        if k in (0, 7, 23):
            state = sched.state_dict()
            assert _plain_only(state), state
            loaded = fresh.load_state_dict(json.loads(json.dumps(state)))
            _assert_identical(loaded, sched, f"{name} at step {k}")
            a, b = sched, loaded
            for m in metrics[k : k + 6]:
                a, b = a.step(m), b.step(m)
            _assert_identical(a, b, f"{name} continued from step {k}")
        sched = sched.step(metrics[k])
    for x, y in zip(jax.tree.leaves(fresh), before, strict=True):  # `load_state_dict` left `self` alone
        np.testing.assert_array_equal(np.asarray(x), y)


@pytest.mark.parametrize("case", [c for c in CASES if "2groups" in c.id][:6], ids=repr)
def test_round_trip_is_exact_x64(case, x64):
    sched = case.build()
    for m in case.metrics[:9]:
        sched = sched.step(float(m))
    loaded = case.build().load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert loaded.lr.dtype == jnp.float64
    _assert_identical(loaded, sched, case.id)


def test_float32_through_python_float_is_exact():
    from statefulsched._state_dict import _float

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.standard_normal(20000).astype(np.float32) * np.float32(10.0) ** rng.integers(-30, 30, 20000),
            np.float32([0.1, 1e-4, 1 / 3, 3e-38, 1e-45, 3.4e38, np.inf, -np.inf, 0.0]),
        ]
    ).astype(np.float32)
    back = np.asarray([_float(v) for v in values], np.float64).astype(np.float32)
    np.testing.assert_array_equal(back, values)
    assert _float(np.float32(0.1)) == 0.1  # the decimal the user typed, for torch and for the log


_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def _count_compiles():
    counts: collections.Counter = collections.Counter()

    def listener(event, duration, **kwargs):
        if event == _BACKEND_COMPILE:
            counts[kwargs.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize("source", ["ours", "torch"])
@pytest.mark.parametrize("name", ["CyclicLR", "ReduceLROnPlateau", "SequentialLR(LinearLR,CosineAnnealingLR)"])
def test_loaded_scheduler_reuses_the_compiled_step(name, source):
    _, spec, lr, ks, beta, metrics = MIGRATIONS[_IDS.index(name)]
    metrics = _metrics(metrics, 0, 20)
    sched = build_ours(spec, lr)
    traces = 0

    @jax.jit
    def jitted(s, m):
        nonlocal traces
        traces += 1
        return s.step(m)

    metric = jnp.float32(1.0)
    for m in metrics[:8]:
        sched = sched.step(m)
    jitted(sched, metric)
    if source == "ours":
        state = json.loads(json.dumps(sched.state_dict()))
    else:
        run = _TorchRun(spec, _torch_groups(spec, lr), beta)
        for m in metrics[:8]:
            run.step(m)
        state = run.saved()
    loaded = build_ours(spec, lr).load_state_dict(state)
    with _count_compiles() as counts:
        for m in metrics[8:]:
            loaded = loaded.step(m)
        jitted(loaded, metric)
        jax.block_until_ready(loaded)
    assert not counts, counts
    assert traces == 1


# ---------------------------------------------------------------------------------------
# Mismatches


def _torch_state(spec: Spec, lr, k: int = 3, metrics=None) -> dict:
    run = _TorchRun(spec, _torch_groups(spec, lr), False)
    for m in _metrics(metrics, 0, k):
        run.step(m)
    return run.saved()


def _ours_state(sched, k: int = 3) -> dict:
    for _ in range(k):
        sched = sched.step(1.0)
    return json.loads(json.dumps(sched.state_dict()))


def _step_lr(**kwargs):
    return S("StepLR", dict(dict(step_size=5, gamma=0.5), **kwargs))


MISMATCHES = [
    (
        "other-class-torch",
        lambda: _torch_state(_step_lr(), 0.1),
        lambda: ss.ExponentialLR(0.1, gamma=0.5),
        r"`ExponentialLR.load_state_dict`: the state dict is one of torch's `StepLR` \(it has `step_size`, `gamma`\)",
    ),
    (
        "other-class-torch-fewer-keys",
        lambda: _torch_state(S("ExponentialLR", dict(gamma=0.5)), 0.1),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"one of torch's `ExponentialLR`.*not of a `StepLR`",
    ),
    (
        "other-class-ours",
        lambda: _ours_state(ss.StepLR(0.1, step_size=5)),
        lambda: ss.ExponentialLR(0.1, gamma=0.1),
        r"saved from a `StepLR` \(says its `statefulsched` entry\), not a `ExponentialLR`",
    ),
    (
        "sequential-vs-chained",
        lambda: _torch_state(_seq_warmup_cosine(), 0.1),
        lambda: ss.ChainedScheduler([ss.LinearLR(0.1, start_factor=0.1, total_iters=5), ss.CosineAnnealingLR(0.1, 20)]),
        r"one of torch's `SequentialLR`",
    ),
    (
        "step_size",
        lambda: _torch_state(_step_lr(), 0.1),
        lambda: ss.StepLR(0.1, step_size=7, gamma=0.5),
        r"`StepLR.load_state_dict`: `step_size` is 5 in the state dict but 7 in this scheduler; build the "
        r"scheduler with the same arguments as the one that was saved\.",
    ),
    (
        "gamma",
        lambda: _torch_state(_step_lr(), 0.1),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.1),
        r"`gamma` is 0\.5 in the state dict but 0\.1 in this scheduler",
    ),
    (
        "gamma-ours",
        lambda: _ours_state(ss.StepLR(0.1, step_size=5, gamma=0.3)),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.1),
        r"`gamma` is 0\.3 in the state dict but 0\.1 in this scheduler",
    ),
    (
        "base_lrs",
        lambda: _torch_state(_step_lr(), 0.2),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"`base_lrs` is \[0\.2\] in the state dict but \[0\.1\] in this scheduler",
    ),
    (
        "T_max",
        lambda: _torch_state(S("CosineAnnealingLR", dict(T_max=10)), 0.1),
        lambda: ss.CosineAnnealingLR(0.1, T_max=12),
        r"`T_max` is 10 in the state dict but 12",
    ),
    (
        "milestones",
        lambda: _torch_state(S("MultiStepLR", dict(milestones=[3, 8])), 0.1),
        lambda: ss.MultiStepLR(0.1, milestones=[3, 9]),
        r"`milestones` is \[3, 8\] in the state dict but \[3, 9\]",
    ),
    (
        "plateau-mode",
        lambda: _torch_state(S("ReduceLROnPlateau", dict(mode="max")), 0.1, metrics=PLATEAU),
        lambda: ss.ReduceLROnPlateau(0.1),
        r"`mode` is 'max' in the state dict but 'min'",
    ),
    (
        "total_steps",
        lambda: _torch_state(S("OneCycleLR", dict(max_lr=0.1, total_steps=100)), None),
        lambda: ss.OneCycleLR(0.1, total_steps=120),
        r"`total_steps` is 100 in the state dict but 120",
    ),
    (
        "pct_start",
        lambda: _torch_state(S("OneCycleLR", dict(max_lr=0.1, total_steps=100, pct_start=0.25)), None),
        lambda: ss.OneCycleLR(0.1, total_steps=100),
        r"`_schedule_phases` is \[\{'end_step': 24\.0.* but \[\{'end_step': 29\.0",
    ),
    (
        "cyclic-step-sizes",
        lambda: _torch_state(S("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3)), None),
        lambda: ss.CyclicLR(0.01, 0.1, step_size_up=4),
        r"`total_size` is 6\.0 in the state dict but 8\.0",
    ),
    (
        "groups",
        lambda: _torch_state(_step_lr(), [0.1, 0.2]),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"`base_lrs` has 2 values \(one per param group\) in the state dict but this scheduler has 1 param group",
    ),
    (
        "groups-plateau",
        lambda: _torch_state(S("ReduceLROnPlateau"), [0.1, 0.2], metrics=PLATEAU),
        lambda: ss.ReduceLROnPlateau([0.1, 0.2, 0.3]),
        r"`min_lrs` has 2 values .* this scheduler has 3 param groups",
    ),
    (
        "children",
        lambda: _torch_state(_seq_warmup_cosine(), 0.1),
        lambda: ss.SequentialLR([ss.LinearLR(0.1, total_iters=5), ss.CosineAnnealingLR(0.1, T_max=20)], [5]),
        r"`SequentialLR.load_state_dict`, `_schedulers\[0\]` \(the `LinearLR`\): `start_factor` is 0\.1 in the "
        r"state dict but 0\.3333333",
    ),
    (
        "lambda-via-last-lr",
        lambda: _torch_state(S("LambdaLR", dict(lr_lambda=_decay)), 0.1),
        lambda: ss.LambdaLR(0.1, _warmup),
        r"`_last_lr` is \[0\.0729.*\] in the state dict but this scheduler's lr at `last_epoch` 3 is \[0\.04",
    ),
    (
        "lambda-name-ours",
        lambda: _ours_state(ss.LambdaLR(0.1, _decay)),
        lambda: ss.LambdaLR(0.1, _warmup),
        r"`statefulsched\.static\.lr_lambda` is \['test_state_dict\._decay'\] in the state dict but "
        r"\['test_state_dict\._warmup'\]",
    ),
    (
        "onecycle-max_lr-ours",
        lambda: _ours_state(ss.OneCycleLR(0.2, total_steps=50, div_factor=50.0)),
        lambda: ss.OneCycleLR(0.1, total_steps=50),
        r"`statefulsched\.config\.max_lr` is \[0\.2\] in the state dict but \[0\.1\]",
    ),
    (
        "onecycle-max_lr-torch",
        lambda: _torch_state(S("OneCycleLR", dict(max_lr=0.2, total_steps=50, div_factor=50.0)), None),
        lambda: ss.OneCycleLR(0.1, total_steps=50),
        r"`_last_lr` is .* in the state dict but this scheduler's lr at `last_epoch` 3",
    ),
    (
        "missing-key",
        lambda: {k: v for k, v in _torch_state(_step_lr(), 0.1).items() if k != "gamma"},
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"the state dict has no `gamma`, so it is not a complete state dict of a `StepLR`",
    ),
    (
        "missing-last_epoch",
        lambda: {k: v for k, v in _ours_state(ss.ExponentialLR(0.1, gamma=0.5)).items() if k != "last_epoch"},
        lambda: ss.ExponentialLR(0.1, gamma=0.5),
        r"the state dict has no `last_epoch`",
    ),
    (
        "truncated",
        lambda: {"last_epoch": 3},
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"`StepLR.load_state_dict`: the state dict has no `step_size`",
    ),
    (
        "garbled-last_epoch",
        lambda: dict(_torch_state(_step_lr(), 0.1), last_epoch="3"),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"`last_epoch` must be an integer >= 0 \(and fit in int32\), got '3' in the state dict",
    ),
    (
        "garbled-last_lr",
        lambda: dict(_torch_state(S("MultiplicativeLR", dict(lr_lambda=_decay)), 0.1), _last_lr=0.1),
        lambda: ss.MultiplicativeLR(0.1, _decay),
        r"`_last_lr` must be a list of numbers \(one per param group\), got 0\.1",
    ),
    (
        "garbled-gamma",
        lambda: dict(_torch_state(_step_lr(), 0.1), gamma="0.5"),
        lambda: ss.StepLR(0.1, step_size=5, gamma=0.5),
        r"`gamma` is '0\.5' in the state dict but 0\.5 in this scheduler",
    ),
    (
        "garbled-best",
        lambda: dict(_torch_state(S("ReduceLROnPlateau"), 0.1, metrics=PLATEAU), best=None),
        lambda: ss.ReduceLROnPlateau(0.1),
        r"`best` must be a number, got None",
    ),
    (
        "garbled-T_cur",
        lambda: dict(_torch_state(S("CosineAnnealingWarmRestarts", dict(T_0=4)), 0.1), T_cur=7),
        lambda: ss.CosineAnnealingWarmRestarts(0.1, T_0=4),
        r"`T_cur` \(7\) must be smaller than `T_i` \(4\)",
    ),
    (
        "garbled-children",
        lambda: dict(_ours_state(ss.ChainedScheduler([ss.StepLR(0.1, 2), ss.ExponentialLR(0.1, 0.9)])), _schedulers=[]),
        lambda: ss.ChainedScheduler([ss.StepLR(0.1, 2), ss.ExponentialLR(0.1, 0.9)]),
        r"`_schedulers` has 0 state dicts but this scheduler has 2 schedulers",
    ),
    (
        "not-a-dict",
        lambda: [("last_epoch", 3)],
        lambda: ss.StepLR(0.1, step_size=5),
        r"`StepLR.load_state_dict`: a state dict is a dict, got list",
    ),
    (
        "version",
        lambda: dict(
            _ours_state(ss.StepLR(0.1, step_size=5)),
            statefulsched=dict(version=2, **{"class": "StepLR", "last_epoch": 3}),
        ),
        lambda: ss.StepLR(0.1, step_size=5),
        r"`statefulsched\.version` is 2 in the state dict; this statefulsched reads version 1",
    ),
    (
        "garbled-extra",
        lambda: dict(
            _ours_state(ss.StepLR(0.1, 5)),
            statefulsched={"class": "StepLR", "version": 1, "last_epoch": 3, "static": 1},
        ),
        lambda: ss.StepLR(0.1, step_size=5),
        r"`statefulsched` must be the entry `state_dict\(\)` writes",
    ),
    (
        "static-ours",
        lambda: _ours_state(ss.OneCycleLR(0.1, total_steps=50, anneal_strategy="linear")),
        lambda: ss.OneCycleLR(0.1, total_steps=50),
        r"`statefulsched\.static\.anneal_strategy` is 'linear' in the state dict but 'cos' in this scheduler",
    ),
    (
        "no-torch-equivalent",
        lambda: _torch_state(_step_lr(), 0.1),
        lambda: ss.FunctionScheduler(_decay),
        r"`FunctionScheduler` has no torch equivalent, so only a dict from its own `state_dict\(\)` loads",
    ),
    (
        "past-total_steps",
        lambda: dict(_torch_state(S("OneCycleLR", dict(max_lr=0.1, total_steps=10)), None), last_epoch=11),
        lambda: ss.OneCycleLR(0.1, total_steps=10),
        r"`last_epoch` is 11 in the state dict, past `total_steps` \(10\)",
    ),
]


@pytest.mark.parametrize("state,build,message", [m[1:] for m in MISMATCHES], ids=[m[0] for m in MISMATCHES])
def test_mismatch_raises(state, build, message):
    sched = build()
    with pytest.raises(ValueError, match=message):
        sched.load_state_dict(state())


def test_generic_config_mismatch():
    if not OPTAX_CASES:
        pytest.skip("no optax-style schedulers")
    from statefulsched._schedulers.optax_basic import LinearSchedule

    state = _ours_state(LinearSchedule(0.1, 0.001, transition_steps=40))
    with pytest.raises(ValueError, match=r"`LinearSchedule.load_state_dict`: `transition_steps` is 40 in the state"):
        LinearSchedule(0.1, 0.001, transition_steps=30).load_state_dict(state)


def test_state_dict_refuses_a_batch():
    sched = ss.ExponentialLR(0.1, gamma=0.5)
    batch = jax.tree.map(lambda x: jnp.stack([x, x]), sched)  # what `jax.vmap` of a constructor returns
    with pytest.raises(ValueError, match=r"a batch of 2 schedulers"):
        batch.state_dict()


def test_plateau_state_keeps_infinity():
    """torch writes `best = inf` before the first metric; Python's JSON round trips it."""
    state = ss.ReduceLROnPlateau(0.1).state_dict()
    assert state["best"] == math.inf and json.loads(json.dumps(state))["best"] == math.inf
