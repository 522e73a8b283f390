"""Drop-in for real: torch's accepted domain, torch's exception classes, no torch habit that fails silently.

- Every configuration torch accepts and computes finite numbers for is accepted, with torch's
  numbers (the hypothesis strategies of `test_torch_parity.py` cover the whole domain; here,
  the cases named in the acceptance policy one by one, with the warnings they give).
- Where torch raises, we raise an instance of torch's exception class.
- `last_epoch=k`, `load_state_dict(strict=False)`, `from_torch` and `to_torch` against torch.
- The torch habits: a dropped `step`/`load_state_dict` result, an optimizer for the lr,
  `step(epoch)`; the readable `repr`; eager errors with nothing on stderr but our message.
"""

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import Spec, run_ours, run_torch
from torch.optim import lr_scheduler, swa_utils

import statefulsched as ss
from statefulsched import _habits

S = Spec


def _torch_groups(spec: Spec, lr) -> list[float]:
    if spec.takes_lr:
        return list(lr) if isinstance(lr, list) else [lr]
    return [0.5] * (len(lr) if isinstance(lr, list) else 1)


def _compare(spec: Spec, lr, steps: int, rtol: float = 1e-5):
    metrics = [1.0] * steps if spec.uses_metric else [None] * steps
    ours, our_m, _ = run_ours(spec, lr, metrics, quiet=True)
    ref, ref_m = run_torch(spec, _torch_groups(spec, lr), [1.0] * steps)
    scale = float(np.max(np.abs(ref))) or 1.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=1e-9 * scale, err_msg=repr(spec))
    if our_m is not None:
        np.testing.assert_allclose(our_m, ref_m, rtol=rtol, atol=1e-9, err_msg=repr(spec))


# ----------------------------------------------------------------------------------------
# Accepted as torch accepts them, with a warning where the value is almost certainly a mistake

# (spec, lr, steps, warning expected: a fragment of its message, or None)
ACCEPTED = [
    (S("MultiStepLR", dict(milestones=[8, 2, 5], gamma=0.5)), 0.1, 12, None),
    (S("MultiStepLR", dict(milestones=[], gamma=0.5)), 0.1, 5, None),
    (S("MultiStepLR", dict(milestones=[3, -1, 2.5, 3.0])), 0.1, 8, "never reaches"),
    (S("LinearLR", dict(start_factor=0.25, total_iters=0)), 0.1, 6, "never starts"),
    (S("ConstantLR", dict(factor=0.5, total_iters=0)), 0.1, 6, "never reaches the end"),
    (S("PolynomialLR", dict(total_iters=0, power=2.0)), 0.1, 6, "never decays"),
    (S("LinearLR", dict(start_factor=0.1, total_iters=5.5)), 0.1, 9, "stops after 5 steps"),
    (S("ConstantLR", dict(factor=0.5, total_iters=2.5)), 0.1, 6, "never reaches the end"),
    (S("PolynomialLR", dict(total_iters=6.5, power=1.5)), 0.1, 10, "stops the decay after 6 steps"),
    (S("PolynomialLR", dict(total_iters=4.5, power=-1.0)), 0.1, 8, "grow"),
    (S("StepLR", dict(step_size=2.5, gamma=0.5)), 0.1, 16, "every 5 steps"),
    (S("StepLR", dict(step_size=0.5, gamma=0.9)), 0.1, 6, "every 1 steps"),
    (S("StepLR", dict(step_size=3, gamma=0.0)), 0.1, 8, "becomes 0"),
    (S("ExponentialLR", dict(gamma=0.0)), 0.1, 4, "becomes 0"),
    (S("CosineAnnealingLR", dict(T_max=7.5, eta_min=1e-3)), 0.1, 40, None),
    (S("CosineAnnealingLR", dict(T_max=2.25)), [0.1, 0.2], 20, None),
    (S("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2.5, step_size_down=1.5)), None, 30, None),
    (S("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=0)), None, 20, None),
    # torch's own tests cycle momentum between 1 and 5 (CyclicLR) and 1 and 22 (OneCycleLR).
    (S("CyclicLR", dict(base_lr=1, max_lr=5, step_size_up=4, base_momentum=1, max_momentum=5)), None, 20, "momentum"),
    (S("OneCycleLR", dict(max_lr=25, total_steps=10, base_momentum=1, max_momentum=22)), None, 10, "momentum"),
    (S("ReduceLROnPlateau", dict(factor=-0.5, min_lr=0.01, patience=0)), 0.1, 4, "min_lr"),
    (S("ReduceLROnPlateau", dict(threshold=-0.1, patience=1)), 0.1, 6, "improvement"),
    (S("ReduceLROnPlateau", dict(patience=1.5, cooldown=0.5)), 0.1, 10, "patience"),
    (
        S(
            "SequentialLR",
            dict(milestones=[3, 3]),
            [S("ConstantLR", dict(factor=0.5)), S("ExponentialLR", dict(gamma=0.9)), S("StepLR", dict(step_size=2))],
        ),
        0.1,
        10,
        "repeated milestone",
    ),
    (
        S(
            "SequentialLR",
            dict(milestones=[6, 2]),
            [S("ConstantLR", dict(factor=0.5)), S("ExponentialLR", dict(gamma=0.9)), S("StepLR", dict(step_size=2))],
        ),
        0.1,
        12,
        "bisection",
    ),
    (
        S(
            "SequentialLR",
            dict(milestones=[-1]),
            [S("ConstantLR", dict(factor=0.5)), S("ExponentialLR", dict(gamma=0.9))],
        ),
        0.1,
        5,
        "negative milestone",
    ),
]


@pytest.mark.parametrize(
    ("spec", "lr", "steps", "warning"), ACCEPTED, ids=[f"{i}-{c[0].name}" for i, c in enumerate(ACCEPTED)]
)
def test_accepted_as_torch_accepts_it(spec, lr, steps, warning, float_mode):
    build = (lambda: ss.SequentialLR([_build(c, lr) for c in spec.children], **spec.kwargs)) if spec.children else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build() if build else _build(spec, lr)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if warning is None:
        assert messages == []
    else:
        assert any(warning in m for m in messages), messages
        # The warning names the argument and points at the caller's line.
        assert all(w.filename == __file__ for w in caught if issubclass(w.category, UserWarning))
    _compare(spec, lr, steps, rtol=1e-5 if float_mode == "float32" else 1e-9)


def _build(spec: Spec, lr):
    cls = getattr(ss, spec.name)
    return cls(lr, **spec.kwargs) if spec.takes_lr else cls(**spec.kwargs)


# ----------------------------------------------------------------------------------------
# last_epoch=k: torch's resume, with `initial_lr` the given lr

RESUMED = [
    S("StepLR", dict(step_size=3, gamma=0.5, last_epoch=5)),
    S("StepLR", dict(step_size=3, gamma=0.0, last_epoch=7)),
    S("MultiStepLR", dict(milestones=[2, 9, 9], gamma=0.5, last_epoch=4)),
    S("ConstantLR", dict(factor=0.5, total_iters=6, last_epoch=2)),
    S("ConstantLR", dict(factor=0.0, total_iters=2, last_epoch=5)),  # past the end: no division
    S("LinearLR", dict(start_factor=0.2, end_factor=0.0, total_iters=6, last_epoch=1)),
    S("ExponentialLR", dict(gamma=0.8, last_epoch=3)),
    S("PolynomialLR", dict(total_iters=8, power=2.0, last_epoch=2)),
    S("CosineAnnealingLR", dict(T_max=10, eta_min=0.01, last_epoch=3)),
    S("CosineAnnealingLR", dict(T_max=10, last_epoch=9)),  # resumed at the minimum
    S("CosineAnnealingLR", dict(T_max=4, last_epoch=18)),  # past several minima
    S("CosineAnnealingLR", dict(T_max=6.5, last_epoch=4)),
    S("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, last_epoch=17)),
    S("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, last_epoch=7)),
    S("OneCycleLR", dict(max_lr=0.1, total_steps=30, last_epoch=12)),
    S("SWALR", dict(swa_lr=0.01, anneal_epochs=4, last_epoch=6)),
    S("LambdaLR", dict(lr_lambda=lambda t: 0.9**t, last_epoch=4)),
    S("MultiplicativeLR", dict(lr_lambda=lambda t: 0.9, last_epoch=4)),
    S("ChainedScheduler", {}, [S("StepLR", dict(step_size=2, last_epoch=3)), S("ExponentialLR", dict(gamma=0.9))]),
    S(
        "ChainedScheduler",
        {},
        [S("CosineAnnealingLR", dict(T_max=5, last_epoch=2)), S("LinearLR", dict(start_factor=0.5, last_epoch=1))],
    ),
]


@pytest.mark.parametrize("spec", RESUMED, ids=[f"{i}-{s.name}" for i, s in enumerate(RESUMED)])
def test_last_epoch_resumes_as_torch(spec, float_mode):
    lr = None if spec.name in ("CyclicLR", "OneCycleLR") else [0.1, 0.2]
    steps = 15 if spec.name == "OneCycleLR" else 30
    _compare(spec, lr, steps, rtol=1e-5 if float_mode == "float32" else 1e-9)


def test_last_epoch_counts_from_k_plus_one():
    sched = ss.StepLR(0.1, step_size=3, last_epoch=5)
    assert int(sched.last_epoch) == 6 and int(sched.step().last_epoch) == 7
    with pytest.raises(ValueError, match="total_steps"):
        ss.OneCycleLR(0.1, total_steps=10, last_epoch=10)


def test_resumed_state_dict_round_trip_and_origin():
    sched = ss.CosineAnnealingLR(0.1, T_max=10, last_epoch=3).step().step()
    again = sched.load_state_dict(sched.state_dict())
    for _ in range(10):
        sched, again = sched.step(), again.step()
        assert float(sched.lr) == float(again.lr)
    with pytest.raises(ValueError, match="last_epoch=k"):
        ss.CosineAnnealingLR(0.1, T_max=10).load_state_dict(sched.state_dict())
    taken = ss.CosineAnnealingLR(0.1, T_max=10).load_state_dict(sched.state_dict(), strict=False)
    assert float(taken.step().lr) == float(sched.step().lr)


# ----------------------------------------------------------------------------------------
# torch's exception classes


def _torch_error(build, steps: int = 12):
    """What torch raises for a configuration, at construction or within a few steps."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = build(optimizer)
            for _ in range(steps):
                optimizer.step()
                sched.step()
    except Exception as e:  # the class is what is compared
        return e
    return None


def _dummy(t):
    return 1.0


RAISED = [
    # (torch, ours, the argument named)
    (lambda o: lr_scheduler.StepLR(o, step_size=0), lambda: ss.StepLR(0.1, step_size=0), "step_size"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), lambda: ss.CosineAnnealingLR(0.1, T_max=0), "T_max"),
    (
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10 / 3),
        lambda: ss.CosineAnnealingLR(0.1, T_max=10 / 3),
        "T_max",
    ),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=0), lambda: ss.CyclicLR(0.01, 0.1, 0), "step_size_up"),
    (
        lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=0, step_size_down=0),
        lambda: ss.CyclicLR(0.01, 0.1, 0, 0),
        "step_size_up",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, div_factor=0.0),
        lambda: ss.OneCycleLR(0.1, total_steps=10, div_factor=0.0),
        "div_factor",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, final_div_factor=0.0),
        lambda: ss.OneCycleLR(0.1, total_steps=10, final_div_factor=0.0),
        "final_div_factor",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1),
        lambda: ss.OneCycleLR(0.1, total_steps=10, pct_start=0.1),
        "pct_start",
    ),
    (
        lambda o: lr_scheduler.ConstantLR(o, factor=0.0, total_iters=3),
        lambda: ss.ConstantLR(0.1, factor=0.0, total_iters=3),
        "factor",
    ),
    (
        lambda o: lr_scheduler.PolynomialLR(o, total_iters=3, power=-1.0),
        lambda: ss.PolynomialLR(0.1, total_iters=3, power=-1.0),
        "power",
    ),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), lambda: ss.ConstantLR(0.1, factor=1.5), "factor"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), lambda: ss.LinearLR(0.1, start_factor=0.0), "start_factor"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), lambda: ss.LinearLR(0.1, end_factor=1.5), "end_factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), lambda: ss.ReduceLROnPlateau(0.1, factor=1.0), "factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="avg"), lambda: ss.ReduceLROnPlateau(0.1, mode="avg"), "mode"),
    (
        lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"),
        lambda: ss.ReduceLROnPlateau(0.1, threshold_mode="x"),
        "threshold_mode",
    ),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="x"), lambda: ss.CyclicLR(0.01, 0.1, mode="x"), "mode"),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="x"),
        lambda: ss.OneCycleLR(0.1, total_steps=10, anneal_strategy="x"),
        "anneal_strategy",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5),
        lambda: ss.OneCycleLR(0.1, total_steps=10, pct_start=1.5),
        "pct_start",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=0),
        lambda: ss.OneCycleLR(0.1, total_steps=0),
        "total_steps",
    ),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1), lambda: ss.OneCycleLR(0.1), "total_steps"),
    (
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda: ss.CosineAnnealingWarmRestarts(0.1, T_0=0),
        "T_0",
    ),
    (
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2.5),
        lambda: ss.CosineAnnealingWarmRestarts(0.1, T_0=2.5),
        "T_0",
    ),
    (
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0),
        lambda: ss.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=0),
        "T_mult",
    ),
    (
        lambda o: swa_utils.SWALR(o, swa_lr=0.01, anneal_epochs=-1),
        lambda: ss.SWALR(0.1, swa_lr=0.01, anneal_epochs=-1),
        "anneal_epochs",
    ),
    (
        lambda o: swa_utils.SWALR(o, swa_lr=0.01, anneal_strategy="x"),
        lambda: ss.SWALR(0.1, swa_lr=0.01, anneal_strategy="x"),
        "anneal_strategy",
    ),
    (lambda o: lr_scheduler.LambdaLR(o, lr_lambda=0.5), lambda: ss.LambdaLR(0.1, lr_lambda=0.5), "lr_lambda"),
    (
        lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=[_dummy, 3]),
        lambda: ss.MultiplicativeLR([0.1, 0.1], lr_lambda=[_dummy, 3]),
        "lr_lambda",
    ),
    (
        lambda o: lr_scheduler.LambdaLR(o, lr_lambda=[_dummy, _dummy]),
        lambda: ss.LambdaLR(0.1, lr_lambda=[_dummy, _dummy]),
        "lr_lambda",
    ),
    (
        lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.0, 0.0]),
        lambda: ss.ReduceLROnPlateau(0.1, min_lr=[0.0, 0.0]),
        "min_lr",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ConstantLR(o)], milestones=[2]),
        lambda: ss.SequentialLR([ss.ConstantLR(0.1)], milestones=[2]),
        "milestones",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]),
        lambda: ss.SequentialLR([], milestones=[]),
        "schedulers",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ConstantLR(o), 3], milestones=[2]),
        lambda: ss.SequentialLR([ss.ConstantLR(0.1), 3], milestones=[2]),
        "schedulers",
    ),
    (lambda o: lr_scheduler.ChainedScheduler([]), lambda: ss.ChainedScheduler([]), "schedulers"),
]


@pytest.mark.parametrize(("torch_build", "build", "name"), RAISED, ids=[f"{i}-{c[2]}" for i, c in enumerate(RAISED)])
def test_raises_torchs_exception_class(torch_build, build, name):
    expected = _torch_error(torch_build)
    assert expected is not None, "torch accepts this configuration"
    with pytest.raises(Exception) as excinfo:
        build()
    assert isinstance(excinfo.value, type(expected)), (type(excinfo.value), type(expected), expected)
    assert f"{name}=" in str(excinfo.value)


@pytest.mark.parametrize(
    ("later", "error"),
    [
        (lambda: ss.LinearLR(0.1, total_iters=0), ZeroDivisionError),
        (lambda: ss.PolynomialLR(0.1, total_iters=0), ZeroDivisionError),
        (lambda: ss.ConstantLR(0.1, factor=0.5, total_iters=0), ValueError),
        (lambda: ss.MultiStepLR(0.1, milestones=[-2, 3]), ValueError),
    ],
    ids=["LinearLR", "PolynomialLR", "ConstantLR", "MultiStepLR"],
)
def test_sequentiallr_refuses_children_torch_enters_otherwise(later, error):
    """torch enters a later scheduler through its closed form at step 0: with `total_iters=0` that
    divides by zero (LinearLR, PolynomialLR) or drops the factor (ConstantLR), and it counts
    negative milestones; first in line, the same schedulers are fine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(error, match="closed form"):
            ss.SequentialLR([ss.ExponentialLR(0.1, gamma=0.9), later()], milestones=[3])
        ss.SequentialLR([later(), ss.ExponentialLR(0.1, gamma=0.9)], milestones=[3])
    torch_later = {
        ZeroDivisionError: lambda o: lr_scheduler.LinearLR(o, total_iters=0),
        ValueError: lambda o: lr_scheduler.ConstantLR(o, factor=0.5, total_iters=0),
    }[error]
    if error is ZeroDivisionError:  # torch's own error, when it gets there
        raised = _torch_error(
            lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ExponentialLR(o, 0.9), torch_later(o)], [3])
        )
        assert isinstance(raised, ZeroDivisionError)


def test_torch_classes_are_also_value_errors():
    # `except ValueError` keeps working, as for every argument error of ours.
    with pytest.raises(ValueError):
        ss.LambdaLR(0.1, lr_lambda=0.5)
    with pytest.raises(ValueError):
        ss.CosineAnnealingLR(0.1, T_max=0)
    with pytest.raises(ZeroDivisionError) as excinfo:
        sched = ss.OneCycleLR(0.1, total_steps=4, pct_start=1.0)  # a last phase of no length
        for _ in range(4):
            sched = sched.step()
    assert "zero length" in str(excinfo.value)


# ----------------------------------------------------------------------------------------
# load_state_dict(strict=False), from_torch, to_torch

STRICT_FALSE = [
    (lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5), lambda: ss.StepLR(0.1, step_size=2)),
    (lambda o: lr_scheduler.MultiStepLR(o, [3, 7], gamma=0.2), lambda: ss.MultiStepLR(0.1, [1])),
    (lambda o: lr_scheduler.LinearLR(o, 0.2, 0.9, total_iters=8), lambda: ss.LinearLR(0.1)),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12.5, eta_min=1e-3), lambda: ss.CosineAnnealingLR(0.1, 5)),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 4, 2), lambda: ss.CosineAnnealingWarmRestarts(0.1, 9)),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.2, 3, 5), lambda: ss.CyclicLR(0.02, 0.1, 2)),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1, factor=0.5), lambda: ss.ReduceLROnPlateau(0.1)),
]


@pytest.mark.parametrize(("torch_build", "template"), STRICT_FALSE, ids=range(len(STRICT_FALSE)))
def test_load_state_dict_not_strict_takes_the_dicts_configuration(torch_build, template):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    reference = torch_build(optimizer)
    plateau = isinstance(reference, lr_scheduler.ReduceLROnPlateau)
    metrics = [1.0, 2.0, 2.0, 3.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
    for m in metrics[:6]:
        optimizer.step()
        reference.step(m) if plateau else reference.step()
    with pytest.raises(ValueError, match="in the state dict but"):
        template().load_state_dict(reference.state_dict())
    ours = template().load_state_dict(reference.state_dict(), strict=False)
    for m in metrics[6:]:
        optimizer.step()
        reference.step(m) if plateau else reference.step()
        ours = ours.step(m)
        assert math.isclose(float(ours.lr), optimizer.param_groups[0]["lr"], rel_tol=1e-5)


def _optimizer(groups: int = 2, adam: bool = False):
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1 * (i + 1)} for i in range(groups)]
    return torch.optim.Adam(params, lr=0.1) if adam else torch.optim.SGD(params, lr=0.1, momentum=0.9)


def _torch_lambda(t):
    return 0.95**t


TORCH_SCHEDULERS = [
    lambda o: lr_scheduler.LambdaLR(o, _torch_lambda),
    lambda o: lr_scheduler.MultiplicativeLR(o, lambda t: 0.9),
    lambda o: lr_scheduler.StepLR(o, 3, 0.5),
    lambda o: lr_scheduler.MultiStepLR(o, [5, 2, 9], 0.5),
    lambda o: lr_scheduler.ConstantLR(o, 0.5, 4),
    lambda o: lr_scheduler.LinearLR(o, 0.1, 1.0, 6),
    lambda o: lr_scheduler.ExponentialLR(o, 0.9),
    lambda o: lr_scheduler.PolynomialLR(o, 10, 2.0),
    lambda o: lr_scheduler.CosineAnnealingLR(o, 10, 1e-3),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 4, 2),
    lambda o: lr_scheduler.CyclicLR(o, [0.01, 0.02], 0.1, step_size_up=4),
    lambda o: lr_scheduler.OneCycleLR(o, [0.1, 0.2], total_steps=40),
    lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1),
    lambda o: swa_utils.SWALR(o, swa_lr=0.01, anneal_epochs=5),
    lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, 0.1, total_iters=4), lr_scheduler.CosineAnnealingLR(o, 20)], milestones=[4]
    ),
    lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(o, 0.5, 4), lr_scheduler.ExponentialLR(o, 0.9)]),
]


def _step_torch(sched, optimizer, metric):
    optimizer.step()
    sched.step(metric) if isinstance(sched, lr_scheduler.ReduceLROnPlateau) else sched.step()


@pytest.mark.parametrize("adam", [False, True])
@pytest.mark.parametrize("build", TORCH_SCHEDULERS, ids=range(len(TORCH_SCHEDULERS)))
def test_from_torch_and_back(build, adam):
    optimizer = _optimizer(adam=adam)
    reference = build(optimizer)
    metrics = [1.0, 1.0, 0.9, 0.9, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    for m in metrics[:6]:
        _step_torch(reference, optimizer, m)
    ours = ss.from_torch(reference)
    assert type(ours).__name__ == type(reference).__name__
    for m in metrics[6:]:
        _step_torch(reference, optimizer, m)
        ours = ours.step(m)
        np.testing.assert_allclose(ours.get_last_lr(), [g["lr"] for g in optimizer.param_groups], rtol=1e-5)
        if getattr(ours, "momentum", None) is not None:
            key = (lambda g: g["betas"][0]) if adam else (lambda g: g["momentum"])
            np.testing.assert_allclose(np.asarray(ours.momentum), [key(g) for g in optimizer.param_groups], rtol=1e-5)
    # ... and back: a torch scheduler on a fresh optimizer, where ours is.
    fresh = _optimizer(adam=adam)
    back = ss.to_torch(ours, fresh)
    np.testing.assert_allclose([g["lr"] for g in fresh.param_groups], ours.get_last_lr(), rtol=1e-6)
    for m in metrics[:4]:
        _step_torch(back, fresh, m)
        ours = ours.step(m)
        np.testing.assert_allclose(ours.get_last_lr(), [g["lr"] for g in fresh.param_groups], rtol=1e-5)


def test_from_torch_needs_traceable_functions():
    optimizer = _optimizer(groups=1)
    sched = lr_scheduler.LambdaLR(optimizer, lambda t: min(1.0, (t + 1) / 5))
    with pytest.raises(TypeError, match="jax.numpy"):
        ss.from_torch(sched)
    with pytest.raises(TypeError, match="torch.optim.lr_scheduler"):
        ss.from_torch(optax.sgd(0.1))
    with pytest.raises(ValueError, match="param group"):
        ss.to_torch(ss.StepLR([0.1, 0.2], step_size=2), _optimizer(groups=1))


# ----------------------------------------------------------------------------------------
# Torch habits


def test_dropped_step_result_warns_once_with_the_fix():
    sched = ss.StepLR(0.1, step_size=2)
    with pytest.warns(UserWarning, match=r"sched = sched\.step\(") as caught:
        for _ in range(5):
            sched.step()  # torch's habit: nothing changes
    assert len([w for w in caught if "not kept" in str(w.message)]) == 1
    assert caught[0].filename == __file__  # points at the user's line


def test_dropped_load_state_dict_result_warns():
    sched = ss.CosineAnnealingLR(0.1, T_max=10)
    saved = sched.step().step().state_dict()
    sched.load_state_dict(saved)  # torch's habit
    with pytest.warns(UserWarning, match=r"sched = sched\.load_state_dict\("):
        sched.step()


def test_legitimate_patterns_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = ss.ExponentialLR(0.1, gamma=0.9)
        for _ in range(5):  # the right way
            sched = sched.step()
        branch, other = sched.step(), sched.step()  # branching, both kept
        preview = sched  # a preview of the curve from the same start ...
        for _ in range(3):
            preview = preview.step()
        sched = sched.step()  # ... and training on from it
        assert float(sched.step().lr) < float(sched.lr)  # one look ahead
        sched = sched.step()
        assert float(branch.lr) == float(other.lr)


def test_habit_tracking_leaves_the_pytree_and_memory_alone():
    sched = ss.OneCycleLR(0.1, total_steps=10_000)
    treedef = jax.tree_util.tree_structure(sched)
    leaves = jax.tree_util.tree_leaves(sched)
    new = sched.step()
    assert jax.tree_util.tree_structure(sched) == treedef == jax.tree_util.tree_structure(new)
    assert all(a is b for a, b in zip(jax.tree_util.tree_leaves(sched), leaves))
    for _ in range(2 * _habits._MAX_ENTRIES):
        new = new.step()
    assert len(_habits._ENTRIES) <= _habits._MAX_ENTRIES  # bounded, whatever the run's length


def test_optimizer_for_the_lr_raises_typeerror_with_the_line_to_write():
    optimizer = _optimizer(groups=1)
    with pytest.raises(TypeError, match="pass the learning rate, not the optimizer") as excinfo:
        ss.StepLR(optimizer, step_size=2)
    assert "`ss.StepLR(0.1, step_size=2)`" in str(excinfo.value)
    with pytest.raises(TypeError, match=r"ss\.StepLR\(\[0\.1, 0\.2\], 30\)"):
        ss.StepLR(_optimizer(groups=2), 30)
    with pytest.raises(TypeError, match="optax"):
        ss.CosineAnnealingLR(optax.adam(1e-3), T_max=10)
    with pytest.raises(TypeError, match=r"leave the optimizer out, `ss\.OneCycleLR\(max_lr=0\.1, total_steps=10\)`"):
        ss.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    with pytest.raises(TypeError, match="SequentialLR"):
        ss.SequentialLR(optimizer, [ss.LinearLR(0.1), ss.ExponentialLR(0.1, 0.9)], milestones=[5])
    from flax import nnx

    model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="Flax"):
        ss.ExponentialLR(nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param), gamma=0.9)
    # torch's own signature: ChainedScheduler's optimizer is accepted (and unused).
    ss.ChainedScheduler([ss.ConstantLR(0.1)], optimizer=optimizer)


def test_step_with_an_epoch_warns_for_metric_free_schedulers():
    sched = ss.StepLR(0.1, step_size=2)
    with pytest.warns(UserWarning, match=r"step\(3\)"):
        sched = sched.step(3)
    assert int(sched.last_epoch) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss.ReduceLROnPlateau(0.1).step(3)  # an int metric is a metric
        ss.StepLR(0.1, step_size=2).step(0.5)  # a generic loop passing a loss to every scheduler


# ----------------------------------------------------------------------------------------
# repr


def test_repr_shows_values():
    sched = ss.StepLR(0.1, step_size=30)
    for _ in range(5):
        sched = sched.step()
    assert repr(sched) == "StepLR(lr=0.1, step_size=30, gamma=0.1, last_epoch=5, last_lr=0.1)"
    assert str(sched) == repr(sched)
    text = repr(ss.ReduceLROnPlateau([0.1, 0.01], patience=3).step(1.0))
    assert "lr=[0.1, 0.01]" in text and "patience=3" in text and "best=1.0" in text and "mode='min'" in text
    assert "f32[" not in repr(ss.OneCycleLR(0.1, total_steps=10)) and "log_gamma" not in repr(sched)


def test_repr_of_composites_functions_batches_and_large_arrays():
    seq = ss.SequentialLR([ss.LinearLR(0.1, total_iters=5), ss.CosineAnnealingLR(0.1, T_max=95)], milestones=[5])
    text = repr(seq.step())
    assert text.startswith("SequentialLR(schedulers=[LinearLR(lr=0.1, ") and "milestones=[5]" in text
    assert "CosineAnnealingLR(lr=0.1, T_max=95, eta_min=0.0, last_epoch=0, last_lr=0.1)" in text
    assert "lr_lambda=_torch_lambda" in repr(ss.LambdaLR(0.1, _torch_lambda))
    batch = jax.vmap(lambda g: ss.ExponentialLR(0.1, gamma=g))(jnp.array([0.5, 0.75]))
    assert "gamma=[0.5, 0.75]" in repr(batch) and "last_epoch=[0, 0]" in repr(batch)
    large = jax.vmap(lambda g: ss.ExponentialLR(0.1, gamma=g))(jnp.linspace(0.5, 0.9, 100))
    assert "gamma=f32[100]" in repr(large)
    seen = []
    jax.jit(lambda s: seen.append(repr(s)) or s.lr)(ss.StepLR(0.1, step_size=3))
    assert seen == ["StepLR(lr=f32[], step_size=i32[], gamma=f32[], last_epoch=i32[], last_lr=f32[])"]
    assert eqx.tree_equal(batch, batch)


# ----------------------------------------------------------------------------------------
# Eager errors: our message and nothing else


@pytest.mark.parametrize(
    "fail",
    [
        lambda: ss.OneCycleLR(0.1, total_steps=1).step().step(),
        lambda: ss.OneCycleLR(0.1, total_steps=3).values(6),
        lambda: ss.optax.to_schedule(ss.OneCycleLR(0.1, total_steps=3))(5),
        lambda: ss.FunctionScheduler(lambda c: 1.0 / (2 - c)).step().step(),
        lambda: ss.FunctionScheduler(lambda c: 1.0 / (2 - c)).values(4),
        lambda: (
            ss.SequentialLR([ss.LinearLR(0.1), ss.OneCycleLR(0.1, total_steps=1)], milestones=[1]).step().step().step()
        ),
    ],
    ids=["step", "values", "to_schedule", "function-step", "function-values", "composite"],
)
def test_eager_errors_print_nothing(fail, capfd):
    capfd.readouterr()
    with pytest.raises(ValueError) as excinfo:
        fail()
    out, err = capfd.readouterr()
    assert out == "" and err == "", err
    assert str(excinfo.value).startswith("`")
