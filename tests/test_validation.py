"""Bad arguments fail loudly, early and clearly.

Structural mistakes raise `ValueError` at construction with a message naming the
parameter and the value given; value checks on traced hyperparameters (schedulers built
under `jax.vmap`) raise at runtime instead of producing a NaN lr; stepping `OneCycleLR` past
its end raises, eagerly and under `jax.jit`; `ReduceLROnPlateau` insists on a metric and
treats a NaN metric as torch does.
"""

import dataclasses
import math
import re
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import statefulsched as ss

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
# The error classes Equinox's runtime checks surface as, across JAX/Equinox releases.
RUNTIME_ERRORS = (ValueError, RuntimeError)


def _lam(t):
    return jnp.minimum(1.0, (t + 1) / 5)


# A valid configuration of every scheduler; tests override one argument at a time.
BASE: dict[str, dict[str, Any]] = {
    "LambdaLR": dict(lr=0.1, lr_lambda=_lam),
    "MultiplicativeLR": dict(lr=0.1, lr_lambda=_lam),
    "StepLR": dict(lr=0.1, step_size=3),
    "MultiStepLR": dict(lr=0.1, milestones=[2, 4]),
    "ConstantLR": dict(lr=0.1),
    "LinearLR": dict(lr=0.1),
    "ExponentialLR": dict(lr=0.1, gamma=0.9),
    "PolynomialLR": dict(lr=0.1),
    "CosineAnnealingLR": dict(lr=0.1, T_max=10),
    "CosineAnnealingWarmRestarts": dict(lr=0.1, T_0=5),
    "CyclicLR": dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
    "OneCycleLR": dict(max_lr=0.1, total_steps=100),
    "ReduceLROnPlateau": dict(lr=0.1),
    "SWALR": dict(lr=0.1, swa_lr=0.01),
}
TAKES_LR = [name for name, kwargs in BASE.items() if "lr" in kwargs]


def make(name: str, **override):
    return getattr(ss, name)(**{**BASE[name], **override})


def _sequential(**override):
    kwargs = dict(schedulers=[ss.LinearLR(0.1), ss.ExponentialLR(0.1, gamma=0.9)], milestones=[5])
    return ss.SequentialLR(**{**kwargs, **override})


def _chained(**override):
    kwargs = dict(schedulers=[ss.ConstantLR(0.1), ss.ExponentialLR(0.1, gamma=0.9)])
    return ss.ChainedScheduler(**{**kwargs, **override})


def test_base_configurations_are_valid():
    for name in BASE:
        sched = make(name).step(0.5)
        assert np.isfinite(np.asarray(sched.lr)).all()
    _sequential().step()
    _chained().step()


def _assert_names(excinfo, name: str, value: Any):
    """The message names the parameter (as `Call(name=...)`) and shows the value given."""
    message = str(excinfo.value)
    assert f"{name}=" in message, message
    shown = repr(value)
    assert shown in message, f"{shown} not in {message!r}"


# ----------------------------------------------------------------------------------------
# Float hyperparameters: NaN, infinities, out-of-range values (hypothesis)


@dataclasses.dataclass(frozen=True)
class Bounds:
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def contains(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below


NONNEG = Bounds(low=0.0)
POSITIVE = Bounds(low=0.0, low_open=True)
UNIT = Bounds(low=0.0, high=1.0)

REAL = Bounds()  # any finite number
FLOAT_PARAMS = [
    *[(name, "lr", NONNEG) for name in TAKES_LR],
    # torch takes any gamma: a negative one alternates the lr's sign (refused), 0 warns.
    ("StepLR", "gamma", NONNEG),
    ("MultiStepLR", "gamma", NONNEG),
    ("ExponentialLR", "gamma", NONNEG),
    ("CosineAnnealingLR", "eta_min", NONNEG),
    ("CosineAnnealingWarmRestarts", "eta_min", NONNEG),
    # torch: [0, 1]; 0 divides by zero when the warm-up ends (here at construction).
    ("ConstantLR", "factor", Bounds(0.0, 1.0, low_open=True)),
    ("LinearLR", "start_factor", Bounds(0.0, 1.0, low_open=True)),
    ("LinearLR", "end_factor", UNIT),
    # A negative power divides by zero at the end of the decay (total_iters=5 here).
    ("PolynomialLR", "power", NONNEG),
    ("CyclicLR", "base_lr", NONNEG),
    ("CyclicLR", "max_lr", NONNEG),
    ("CyclicLR", "gamma", REAL),  # unused in "triangular", as in torch
    # Momentum bounds outside [0, 1] warn (torch's own tests use 1..5).
    ("CyclicLR", "base_momentum", REAL),
    ("CyclicLR", "max_momentum", REAL),
    ("OneCycleLR", "max_lr", NONNEG),
    ("OneCycleLR", "pct_start", UNIT),
    ("OneCycleLR", "div_factor", POSITIVE),
    ("OneCycleLR", "final_div_factor", POSITIVE),
    ("OneCycleLR", "base_momentum", REAL),
    ("OneCycleLR", "max_momentum", REAL),
    ("ReduceLROnPlateau", "factor", Bounds(high=1.0, high_open=True)),  # below 0: warns
    ("ReduceLROnPlateau", "threshold", REAL),  # below 0: warns
    ("ReduceLROnPlateau", "min_lr", REAL),
    ("ReduceLROnPlateau", "eps", REAL),
    ("SWALR", "swa_lr", NONNEG),
]

# Magnitudes stay within float32's range: beyond it, see the overflow test below.
_F32_MAX = float(np.finfo(np.float32).max)


def invalid_floats(bounds: Bounds) -> st.SearchStrategy[float]:
    """NaN, infinities, and finite values outside `bounds` (including just outside, and tiny ones)."""
    options = [st.sampled_from([math.nan, math.inf, -math.inf])]
    if bounds.low > -math.inf:
        below = st.floats(min_value=-_F32_MAX, max_value=bounds.low, allow_nan=False)
        options.append(below.filter(lambda x: not bounds.contains(x)))
    if bounds.high < math.inf:
        above = st.floats(min_value=bounds.high, max_value=_F32_MAX, allow_nan=False)
        options.append(above.filter(lambda x: not bounds.contains(x)))
    return st.one_of(*options)


def test_bounds_helper():
    # The tests below draw values outside `Bounds`; check the helper itself.
    assert NONNEG.contains(0.0) and not POSITIVE.contains(0.0) and POSITIVE.contains(1e-30)
    assert UNIT.contains(1.0) and not Bounds(0.0, 1.0, high_open=True).contains(1.0)
    assert not NONNEG.contains(math.nan) and not NONNEG.contains(math.inf) and not NONNEG.contains(-1e-30)


@pytest.mark.parametrize(("name", "param", "bounds"), FLOAT_PARAMS, ids=lambda x: x if isinstance(x, str) else "")
@SETTINGS
@given(data=st.data())
def test_invalid_float_hyperparameter_raises(name, param, bounds, data):
    value = data.draw(invalid_floats(bounds), label=param)
    assert not bounds.contains(value)
    with pytest.raises(ValueError) as excinfo:
        make(name, **{param: value})
    _assert_names(excinfo, param, value)
    assert excinfo.value.args[0].startswith(f"`{name}(")


@pytest.mark.parametrize(("name", "param", "bounds"), FLOAT_PARAMS, ids=lambda x: x if isinstance(x, str) else "")
def test_boundary_float_values_are_accepted(name, param, bounds):
    # The closed ends of each interval are valid (some warn, tested in test_dropin.py); the
    # open ends are rejected (tested above).
    for value in (bounds.low, bounds.high, -3.0, 7.0):
        if math.isfinite(value) and bounds.contains(value):
            if (name, param) == ("OneCycleLR", "pct_start") and value == 1.0:
                continue  # valid, but its zero-length last phase raises on the final step
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sched = make(name, **{param: value})
            assert np.isfinite(np.asarray(sched.lr)).all()


@pytest.mark.parametrize("name", TAKES_LR)
@SETTINGS
@given(bad=invalid_floats(NONNEG), position=st.integers(0, 2))
def test_invalid_lr_in_a_group_list_raises(name, bad, position):
    lrs = [0.1, 0.2, 0.3]
    lrs[position] = bad
    kwargs = {"lr": lrs}
    if name in ("LambdaLR", "MultiplicativeLR"):
        kwargs["lr_lambda"] = [_lam] * 3
    with pytest.raises(ValueError) as excinfo:
        make(name, **kwargs)
    _assert_names(excinfo, "lr", lrs)


@pytest.mark.parametrize("name", TAKES_LR)
@pytest.mark.parametrize("bad", ["0.1", None, True, [], [0.1, "x"], {"lr": 0.1}], ids=repr)
def test_non_numeric_lr_raises(name, bad):
    with pytest.raises(ValueError) as excinfo:
        make(name, lr=bad)
    _assert_names(excinfo, "lr", bad)


@pytest.mark.parametrize("value", [-1e-300, -1e-46, -5e-324])
def test_tiny_negative_lr_raises(value):
    # Checked before rounding to float32, where these would become -0.0 and pass as >= 0.
    with pytest.raises(ValueError) as excinfo:
        ss.StepLR(value, step_size=3)
    _assert_names(excinfo, "lr", value)


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda v: ss.StepLR(v, step_size=3), "lr"),
        (lambda v: ss.ExponentialLR(0.1, gamma=v), "gamma"),
        (lambda v: ss.CosineAnnealingLR(0.1, T_max=10, eta_min=v), "eta_min"),
        (lambda v: ss.OneCycleLR(v, total_steps=10), "max_lr"),
    ],
    ids=["StepLR-lr", "ExponentialLR-gamma", "CosineAnnealingLR-eta_min", "OneCycleLR-max_lr"],
)
def test_finite_value_overflowing_float32_raises(build, param):
    with pytest.raises(ValueError) as excinfo:
        build(1e39)
    _assert_names(excinfo, param, 1e39)


# ----------------------------------------------------------------------------------------
# Integer step counts

# (scheduler, parameter, smallest valid value, whether torch takes only a Python int). The
# others are numbers of steps torch computes with, fractional ones included (test_dropin.py).
INT_PARAMS = [
    ("StepLR", "step_size", 1, False),
    ("CosineAnnealingLR", "T_max", 1, False),
    ("CosineAnnealingWarmRestarts", "T_0", 1, True),
    ("CosineAnnealingWarmRestarts", "T_mult", 1, True),
    ("ConstantLR", "total_iters", 0, False),
    ("LinearLR", "total_iters", 0, False),
    ("PolynomialLR", "total_iters", 0, False),
    ("CyclicLR", "step_size_up", 1, False),
    ("CyclicLR", "step_size_down", 0, False),
    ("OneCycleLR", "total_steps", 1, True),
    ("ReduceLROnPlateau", "patience", 0, False),
    ("ReduceLROnPlateau", "cooldown", 0, False),
    ("SWALR", "anneal_epochs", 0, True),
]


def _bad_ints(low: int, only_int: bool):
    bad = [low - 1, low - 5, True, False, "3", 2**31, math.nan, math.inf, [3]]
    if only_int:
        bad += [2.5, float(low + 2), np.float64(3.0), jnp.array(3.0)]
    return bad


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [(name, param, value) for name, param, low, only in INT_PARAMS for value in _bad_ints(low, only)],
    ids=lambda x: x if isinstance(x, str) else repr(x),
)
def test_invalid_integer_hyperparameter_raises(name, param, value):
    with pytest.raises(ValueError) as excinfo:
        make(name, **{param: value})
    message = str(excinfo.value)
    assert f"{name}({param}=...)" in message, message
    shown = repr(np.asarray(value).tolist()) if isinstance(value, jax.Array) else repr(value)
    assert shown in message, message


@pytest.mark.parametrize(("name", "param", "low", "only"), INT_PARAMS, ids=lambda x: x if isinstance(x, str) else "")
def test_smallest_valid_integer_and_integer_types_are_accepted(name, param, low, only):
    values = [low, np.int64(low + 1), jnp.int32(low + 2)] + ([] if only else [float(low + 3), np.float64(low + 4)])
    for value in values:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # `total_iters=0` warns
            sched = make(name, **{param: value})
        stored = int(getattr(sched, param))
        # torch's `LinearLR(total_iters=0)` keeps `start_factor`: stored as a one-step ramp to it.
        assert stored == (1 if (name, int(value)) == ("LinearLR", 0) else int(value))


@pytest.mark.parametrize(
    ("override", "param"),
    [
        (dict(total_steps=None), "total_steps"),
        (dict(total_steps=None, epochs=3), "total_steps"),
        (dict(total_steps=None, steps_per_epoch=3), "total_steps"),
        (dict(total_steps=None, epochs=0, steps_per_epoch=3), "epochs"),
        (dict(total_steps=None, epochs=2, steps_per_epoch=2.5), "steps_per_epoch"),
        (dict(total_steps=None, epochs=True, steps_per_epoch=2), "epochs"),
    ],
    ids=repr,
)
def test_onecycle_needs_a_length(override, param):
    with pytest.raises(ValueError) as excinfo:
        make("OneCycleLR", **override)
    message = str(excinfo.value)
    assert param in message, message
    if param in override and override[param] is not None:
        assert repr(override[param]) in message, message
    else:  # the message shows what was (not) given
        assert all(f"{k}={v!r}" in message for k, v in override.items()), message


def test_onecycle_epochs_times_steps_per_epoch():
    a = make("OneCycleLR", total_steps=None, epochs=4, steps_per_epoch=25)
    b = make("OneCycleLR")
    for _ in range(100):
        a, b = a.step(), b.step()
        np.testing.assert_array_equal(a.lr, b.lr)
    with pytest.raises(ValueError, match="total_steps"):
        a.step()


# ----------------------------------------------------------------------------------------
# Milestones


@pytest.mark.parametrize(
    "milestones", [[True, 3], "12", [[1, 2]], [math.nan, 2], [3, math.inf], 5, None, [3, "4"]], ids=repr
)
def test_multisteplr_bad_milestones(milestones):
    with pytest.raises(ValueError) as excinfo:
        make("MultiStepLR", milestones=milestones)
    message = str(excinfo.value)
    assert "MultiStepLR(milestones=...)" in message
    shown = repr(np.asarray(milestones).tolist()) if isinstance(milestones, np.ndarray) else repr(milestones)
    assert shown in message, message


def test_multisteplr_repeated_milestones_are_allowed():
    # As in torch, a repeated milestone applies gamma twice.
    sched = make("MultiStepLR", milestones=[2, 2], gamma=0.5)
    for _ in range(2):
        sched = sched.step()
    np.testing.assert_allclose(sched.lr, 0.025, rtol=1e-6)


@pytest.mark.parametrize("milestones", [[2.5, 6], [[3, 6]], [True, 4], [2**31, 4], "ab", [3, math.nan]], ids=repr)
def test_sequentiallr_bad_milestones(milestones):
    schedulers = [ss.LinearLR(0.1), ss.ExponentialLR(0.1, gamma=0.9), ss.ConstantLR(0.1)]
    with pytest.raises(ValueError) as excinfo:
        ss.SequentialLR(schedulers, milestones=milestones)
    message = str(excinfo.value)
    assert "SequentialLR(milestones=...)" in message and repr(milestones) in message, message


@pytest.mark.parametrize(("n_schedulers", "milestones"), [(2, []), (2, [3, 6]), (3, [3]), (1, [3]), (3, [2, 4, 6])])
def test_sequentiallr_wrong_number_of_milestones(n_schedulers, milestones):
    schedulers = [ss.ExponentialLR(0.1, gamma=0.9) for _ in range(n_schedulers)]
    with pytest.raises(ValueError) as excinfo:
        ss.SequentialLR(schedulers, milestones=milestones)
    message = str(excinfo.value)
    assert "milestones" in message and repr(milestones) in message, message


def test_sequentiallr_single_scheduler_without_milestones():
    sched = ss.SequentialLR([ss.ExponentialLR(0.1, gamma=0.5)], milestones=[])
    np.testing.assert_allclose(sched.step().lr, 0.05, rtol=1e-6)


# ----------------------------------------------------------------------------------------
# Mode strings


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("CyclicLR", "mode", "foo"),
        ("CyclicLR", "mode", "Triangular"),
        ("CyclicLR", "mode", None),
        ("ReduceLROnPlateau", "mode", "avg"),
        ("ReduceLROnPlateau", "mode", "MIN"),
        ("ReduceLROnPlateau", "threshold_mode", "relative"),
        ("ReduceLROnPlateau", "threshold_mode", 1),
        ("OneCycleLR", "anneal_strategy", "cosine"),
        ("OneCycleLR", "anneal_strategy", "exp"),
        ("SWALR", "anneal_strategy", "linearly"),
        ("SWALR", "anneal_strategy", None),
    ],
    ids=repr,
)
def test_unknown_mode_raises(name, param, value):
    with pytest.raises(ValueError) as excinfo:
        make(name, **{param: value})
    _assert_names(excinfo, param, value)


def test_cycliclr_scale_mode_and_scale_fn():
    # torch takes any other `scale_mode` as "iterations": so does this, warning.
    with pytest.warns(UserWarning, match=r"scale_mode='epochs'"):
        odd = make("CyclicLR", scale_fn=lambda x: 0.9**x, scale_mode="epochs")
    assert odd.scale_mode == "iterations"
    with pytest.raises(TypeError) as excinfo:
        make("CyclicLR", scale_fn="triangular")
    assert "scale_fn" in str(excinfo.value) and "'triangular'" in str(excinfo.value)


# ----------------------------------------------------------------------------------------
# Group counts


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: ss.ReduceLROnPlateau([0.1, 0.2], min_lr=[0.0, 0.0, 0.0]), "min_lr"),
        (lambda: ss.SWALR([0.1, 0.2], swa_lr=[0.01, 0.02, 0.03]), "swa_lr"),
        (lambda: ss.LambdaLR([0.1, 0.2], [_lam] * 3), "lr_lambda"),
        (lambda: ss.MultiplicativeLR([0.1, 0.2, 0.3], [_lam] * 2), "lr_lambda"),
        (lambda: ss.CyclicLR([0.01, 0.02], [0.1, 0.2, 0.3]), "max_lr"),
        (lambda: ss.CyclicLR([0.01, 0.02], [0.1, 0.2], base_momentum=[0.8, 0.8, 0.8]), "base_momentum"),
        (lambda: ss.CyclicLR(0.01, [0.1, 0.2], max_momentum=[0.9, 0.9, 0.9]), "max_momentum"),
        (lambda: ss.OneCycleLR([0.1, 0.2], total_steps=10, base_momentum=[0.8, 0.8, 0.8]), "base_momentum"),
        (lambda: ss.OneCycleLR([0.1, 0.2], total_steps=10, max_momentum=[0.9] * 3), "max_momentum"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_mismatched_group_counts_raise(build, param):
    with pytest.raises(ValueError) as excinfo:
        build()
    message = str(excinfo.value)
    assert f"({param}=...)" in message and "group" in message, message
    assert re.search(r"\b2\b", message) and re.search(r"\b3\b", message), message  # both counts


def test_group_counts_ignore_momentum_when_not_cycled():
    # torch only reads the momentum arguments when cycling momentum.
    sched = ss.CyclicLR([0.01, 0.02], [0.1, 0.2], cycle_momentum=False, base_momentum=[0.8] * 3)
    assert sched.lr.shape == (2,) and sched.momentum is None


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: ss.ReduceLROnPlateau(0.1, patience=0, min_lr=[0.0, 0.0]), "min_lr"),
        (lambda: ss.SWALR(0.1, swa_lr=[0.01, 0.02]), "swa_lr"),
    ],
    ids=["ReduceLROnPlateau-min_lr", "SWALR-swa_lr"],
)
def test_scalar_lr_with_per_group_list(build, param):
    """A scalar lr is one param group (as in torch), so a list of 2 per-group values is an error.

    (Regression: `ReduceLROnPlateau`'s lr used to change shape from () to (2,) at its first
    reduction, breaking `scan`.)
    """
    try:
        sched = build()
    except ValueError as e:
        assert f"({param}=...)" in str(e) and "group" in str(e), str(e)
        return
    shape = sched.lr.shape  # or, if accepted, the pytree must at least stay fixed
    for metric in (1.0, 2.0, 3.0):
        sched = sched.step(metric)
        assert sched.lr.shape == shape


@pytest.mark.parametrize(
    "build",
    [
        lambda: ss.ReduceLROnPlateau(np.array([0.1, 0.2]), patience=0, min_lr=[0.0, 0.0, 0.0]).step(1.0).step(2.0),
        lambda: ss.SWALR(jnp.array([0.1, 0.2]), swa_lr=[0.0, 0.0, 0.0]),
    ],
    ids=["ReduceLROnPlateau-min_lr", "SWALR-swa_lr"],
)
def test_array_lr_with_mismatched_group_list(build):
    # An array lr fixes the group count as a list does (regression: it used to fail later
    # with a broadcasting TypeError).
    with pytest.raises(ValueError, match="param groups"):
        build()


@pytest.mark.parametrize("composite", [ss.SequentialLR, ss.ChainedScheduler])
@pytest.mark.parametrize(
    ("children", "phrase"),
    [
        (lambda: [ss.LinearLR([0.1, 0.2]), ss.ExponentialLR(0.1, gamma=0.9)], "param groups"),
        (lambda: [ss.LinearLR([0.1, 0.2]), ss.CyclicLR([0.01] * 3, 0.1)], "param groups"),
        (lambda: [ss.LinearLR(0.1), ss.ExponentialLR(0.2, gamma=0.9)], "different learning rates"),
        (lambda: [ss.LinearLR([0.1, 0.2]), ss.ReduceLROnPlateau([0.1, 0.3])], "different learning rates"),
    ],
    ids=["groups", "groups-cyclic", "lrs", "lrs-2groups"],
)
def test_composite_children_must_agree(composite, children, phrase):
    kwargs = {"milestones": [5]} if composite is ss.SequentialLR else {}
    with pytest.raises(ValueError) as excinfo:
        composite(children(), **kwargs)
    message = str(excinfo.value)
    assert "schedulers=" in message and phrase in message, message


@pytest.mark.parametrize("composite", [ss.SequentialLR, ss.ChainedScheduler])
@pytest.mark.parametrize("children", [[], ss.LinearLR(0.1), [ss.LinearLR(0.1), "StepLR"], None], ids=repr)
def test_composite_needs_a_list_of_schedulers(composite, children):
    kwargs = {"milestones": [5]} if composite is ss.SequentialLR else {}
    with pytest.raises(ValueError, match="schedulers="):
        composite(children, **kwargs)


# ----------------------------------------------------------------------------------------
# torch-compatibility arguments


def _all_builders():
    builders = {name: (lambda name=name, **kw: make(name, **kw)) for name in BASE}
    builders["SequentialLR"] = _sequential
    builders["ChainedScheduler"] = _chained
    return builders


ALL = _all_builders()


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("ReduceLROnPlateau", "ChainedScheduler")])
@pytest.mark.parametrize("last_epoch", [-2, 1.0, None, True, "3", 2**31], ids=repr)
def test_last_epoch_that_is_not_a_step_raises(name, last_epoch):
    with pytest.raises(ValueError) as excinfo:
        ALL[name](last_epoch=last_epoch)
    _assert_names(excinfo, "last_epoch", last_epoch)


@pytest.mark.parametrize("last_epoch", [0, 5, np.int32(3)], ids=repr)
def test_sequentiallr_last_epoch_is_refused(last_epoch):
    # torch's SequentialLR(last_epoch=k) restarts its children instead of resuming them.
    with pytest.raises(ValueError, match="load_state_dict") as excinfo:
        _sequential(last_epoch=last_epoch)
    _assert_names(excinfo, "last_epoch", last_epoch)


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_warns_but_works(name, verbose):
    expected = ALL[name]()
    with pytest.warns(DeprecationWarning, match="verbose"):
        sched = ALL[name](verbose=verbose)
    np.testing.assert_array_equal(sched.lr, expected.lr)
    metric = 1.0
    for _ in range(3):
        sched, expected = sched.step(metric), expected.step(metric)
    np.testing.assert_array_equal(sched.lr, expected.lr)


@pytest.mark.parametrize("name", list(ALL))
def test_default_construction_does_not_warn(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ALL[name]()


# ----------------------------------------------------------------------------------------
# OneCycleLR past its end


@pytest.mark.parametrize("total_steps", [1, 7, 30])
@pytest.mark.parametrize("three_phase", [False, True])
def test_onecycle_past_end_raises_eagerly(total_steps, three_phase):
    short = total_steps <= 2  # too short for non-empty phases: start at the peak
    pct_start = 0.0 if short else 0.5
    sched = ss.OneCycleLR(0.1, total_steps=total_steps, pct_start=pct_start, three_phase=three_phase and not short)
    for _ in range(total_steps):
        sched = sched.step()
        assert np.isfinite(np.asarray(sched.lr)).all()
    assert int(sched.last_epoch) == total_steps
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()
    # The scheduler it failed on is intact.
    assert int(sched.last_epoch) == total_steps and np.isfinite(np.asarray(sched.lr)).all()


def test_onecycle_past_end_matches_torch_step_count():
    total_steps = 12
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    reference = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total_steps)
    ours = ss.OneCycleLR(0.1, total_steps=total_steps)
    for _ in range(total_steps):
        opt.step()
        reference.step()
        ours = ours.step()
    with pytest.raises(ValueError):
        reference.step()
    with pytest.raises(ValueError):
        ours.step()


def test_onecycle_past_end_holds_its_last_values_when_traced():
    """Traced into a larger program, a step past the end holds step `total_steps`'s values.

    (A check there would be a host callback on every step; see `OneCycleLR`'s docstring.)
    """
    total_steps = 9
    step = jax.jit(lambda s: s.step())
    sched = ss.OneCycleLR([0.1, 0.2], total_steps=total_steps)
    lrs, momenta = [], []
    for _ in range(total_steps):
        sched = step(sched)
        lrs.append(np.asarray(sched.lr))
        momenta.append(np.asarray(sched.momentum))
    assert np.isfinite(lrs).all()
    past = step(step(sched))
    np.testing.assert_array_equal(np.asarray(past.lr), lrs[-1])
    np.testing.assert_array_equal(np.asarray(past.momentum), momenta[-1])
    assert int(past.last_epoch) == total_steps + 2  # the overrun shows
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()  # eagerly, torch's error

    def body(s, _):
        s = s.step()
        return s, s.lr

    start = ss.OneCycleLR([0.1, 0.2], total_steps=total_steps)
    _, ok = jax.lax.scan(body, start, None, length=total_steps)
    np.testing.assert_allclose(np.asarray(ok), np.asarray(lrs), rtol=3e-7)
    _, longer = jax.lax.scan(body, start, None, length=total_steps + 3)
    # A scan and a jitted step are separately compiled programs: equal to an ulp or two.
    np.testing.assert_allclose(np.asarray(longer)[:total_steps], np.asarray(lrs), rtol=3e-7)
    np.testing.assert_array_equal(np.asarray(longer)[total_steps:], np.stack([np.asarray(longer)[total_steps - 1]] * 3))


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [(dict(total_steps=10, pct_start=0.1), "pct_start"), (dict(total_steps=4, pct_start=0.25), "pct_start")],
)
def test_onecycle_empty_first_phase_raises(kwargs, param):
    # pct_start * total_steps == 1 makes torch divide by zero in the first phase.
    with pytest.raises(ValueError) as excinfo:
        ss.OneCycleLR(0.1, **kwargs)
    _assert_names(excinfo, param, kwargs[param])


# ----------------------------------------------------------------------------------------
# ReduceLROnPlateau and its metric


@pytest.mark.parametrize(
    "build",
    [
        lambda: ss.ReduceLROnPlateau(0.1),
        lambda: ss.SequentialLR([ss.LinearLR(0.1), ss.ReduceLROnPlateau(0.1)], milestones=[3]),
        lambda: ss.SequentialLR([ss.ReduceLROnPlateau(0.1), ss.LinearLR(0.1)], milestones=[3]),
        lambda: ss.ChainedScheduler([ss.CosineAnnealingLR(0.1, T_max=5), ss.ReduceLROnPlateau(0.1)]),
    ],
    ids=["plateau", "SequentialLR-later", "SequentialLR-first", "ChainedScheduler"],
)
def test_plateau_without_metric_raises_typeerror(build):
    sched = build()
    with pytest.raises(TypeError, match=r"metric") as excinfo:
        sched.step()
    assert "ReduceLROnPlateau.step" in str(excinfo.value)
    with pytest.raises(TypeError, match=r"metric"):
        sched.step(None)
    with pytest.raises(TypeError, match=r"metric"):
        jax.jit(lambda s: s.step())(sched)
    # With a metric it works.
    assert int(sched.step(1.0).last_epoch) == 1


def test_plateau_non_scalar_metric_raises():
    with pytest.raises(ValueError, match="scalar"):
        ss.ReduceLROnPlateau(0.1).step(jnp.array([1.0, 2.0]))


def _torch_plateau(metrics, **kwargs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append((opt.param_groups[0]["lr"], sched.best, sched.num_bad_epochs, sched.cooldown_counter))
    return out


def _ours_plateau(metrics, **kwargs):
    sched = ss.ReduceLROnPlateau(0.1, **kwargs)
    out = []
    for m in metrics:
        sched = sched.step(m)
        out.append((float(sched.lr), float(sched.best), int(sched.num_bad_epochs), int(sched.cooldown_counter)))
    return out


def _assert_plateau_runs_match(ours, theirs):
    for i, ((lr, best, bad, cool), (t_lr, t_best, t_bad, t_cool)) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isfinite(lr), f"step {i}: lr is {lr}"
        assert not math.isnan(best), f"step {i}: best became NaN"
        assert (bad, cool) == (t_bad, t_cool), f"step {i}: {(bad, cool)} != torch's {(t_bad, t_cool)}"
        assert best == t_best or math.isclose(best, t_best, rel_tol=1e-6), f"step {i}: best {best} != {t_best}"
        assert math.isclose(lr, t_lr, rel_tol=1e-6), f"step {i}: lr {lr} != torch's {t_lr}"


def test_plateau_nan_metric_is_a_bad_epoch():
    nan = math.nan
    patience = 2
    metrics = [1.0, nan, nan, nan, 0.5, nan, nan, nan, nan]
    ours = _ours_plateau(metrics, patience=patience)
    # lr is cut after patience + 1 NaN steps; best is untouched by NaN.
    lrs = [o[0] for o in ours]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    assert [o[1] for o in ours] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    _assert_plateau_runs_match(ours, _torch_plateau(metrics, patience=patience))


def test_plateau_nan_first_metric_keeps_infinite_best():
    ours = _ours_plateau([math.nan, math.nan], patience=0)
    assert ours[0][1] == math.inf and ours[1][0] == pytest.approx(0.001)


_METRIC_VALUES = st.one_of(st.just(math.nan), st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.0, -1.0]))


@SETTINGS
@given(
    metrics=st.lists(_METRIC_VALUES, min_size=1, max_size=25),
    mode=st.sampled_from(["min", "max"]),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    patience=st.integers(0, 3),
    cooldown=st.integers(0, 2),
)
def test_plateau_nan_metrics_match_torch(metrics, mode, threshold_mode, patience, cooldown):
    kwargs = dict(mode=mode, threshold_mode=threshold_mode, patience=patience, cooldown=cooldown, factor=0.5)
    _assert_plateau_runs_match(_ours_plateau(metrics, **kwargs), _torch_plateau(metrics, **kwargs))


# ----------------------------------------------------------------------------------------
# Traced hyperparameters (built under vmap / jit) are checked at runtime


@pytest.mark.parametrize(
    ("build", "values", "param"),
    [
        (lambda g: ss.ExponentialLR(0.1, gamma=g), [0.5, -1.0], "gamma"),
        (lambda g: ss.ExponentialLR(0.1, gamma=g), [0.5, math.nan], "gamma"),
        (lambda g: ss.StepLR(g, step_size=3), [0.1, -0.1], "lr"),
        (lambda g: ss.StepLR(g, step_size=3), [0.1, math.inf], "lr"),
        (lambda n: ss.StepLR(0.1, step_size=n), np.array([3, 0], np.int32), "step_size"),
        (lambda t: ss.CosineAnnealingLR(0.1, T_max=t), np.array([5, -2], np.int32), "T_max"),
        (lambda f: ss.ConstantLR(0.1, factor=f), [0.5, 1.5], "factor"),
        (lambda m: ss.OneCycleLR(m, total_steps=20), [0.1, -0.1], "max_lr"),
        (lambda p: ss.ReduceLROnPlateau(0.1, patience=p), np.array([1, -1], np.int32), "patience"),
        (lambda p: ss.ReduceLROnPlateau(0.1, factor=p), [0.5, 1.0], "factor"),
        (lambda s: ss.SWALR(0.1, swa_lr=s), [0.01, -0.01], "swa_lr"),
        (lambda m: ss.MultiStepLR(0.1, milestones=m), np.array([[1, 3], [-1, 3]], np.int32), "milestones"),
        (lambda m: ss.CyclicLR(0.01, m), [0.1, math.nan], "max_lr"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_traced_invalid_value_raises_at_runtime(build, values, param):
    values = jnp.asarray(values)
    good = jax.vmap(build)(values[:1])  # the valid member alone is fine
    assert np.isfinite(np.asarray(good.lr)).all()
    with pytest.raises(RUNTIME_ERRORS, match=rf"\({param}=\.\.\.\)") as excinfo:
        batch = jax.vmap(build)(values)
        jax.block_until_ready(batch.lr)
    assert "must be" in str(excinfo.value)


def test_traced_integer_parameter_must_have_integer_dtype():
    # (Regression: formatting the message used to call `np.asarray` on the tracer.)
    with pytest.raises(ValueError, match=r"T_max=") as excinfo:
        jax.vmap(lambda t: ss.CosineAnnealingLR(0.1, T_max=t))(jnp.array([5.0, 6.0]))
    assert "integer" in str(excinfo.value)
