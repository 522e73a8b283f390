"""Run PyTorch's own scheduler tests against statefulsched, through a thin shim.

PyTorch's `test/optim/test_lrscheduler.py` checks its schedulers' learning rates on an
optimizer. This script puts statefulsched behind torch's class names: each shim class builds
the statefulsched scheduler from the optimizer's lr (torch's `initial_lr` when resuming) and
the same arguments, and after every `step()` writes the new lr (and a cycled momentum) into the
optimizer's param groups, where torch's tests read them. Then it runs torch's test class and
sorts the results:

- tests that check values and apply to an immutable design: these must pass;
- tests of what an immutable design does not have (`step(epoch)`, the order of
  `optimizer.step()` and `scheduler.step()`, an optimizer's lr changed in place, torch's
  `state_dict` internals, pickling, reference cycles): reported, not counted.

torch's test file is not part of this repository. Fetch it from the PyTorch repository (the
version matching the installed torch), then:

    python tools/torch_suite_shim.py path/to/test_lrscheduler.py

It needs `expecttest` (`pip install expecttest`), which torch's test utilities import.
"""

import argparse
import importlib.util
import inspect
import sys
import unittest
import warnings

from torch.optim import lr_scheduler as torch_schedulers

import statefulsched as ss
from statefulsched._torch import write_groups

# Tests that exercise what an immutable scheduler without an optimizer does not have.
NOT_APPLICABLE = {
    "epoch": "`step(epoch)` (deprecated in torch; here a scheduler is built with `last_epoch=k`)",
    "warning": "torch's warnings about the order of `optimizer.step()` and `scheduler.step()`",
    "state_dict": "torch's `state_dict` internals (`__dict__` equality); ours round-trip in tests/test_state_dict.py",
    "cyclic_references": "reference cycles between a torch scheduler and its optimizer",
    "picklable": "pickling torch's scheduler object",
    "removed_after_out_of_scope": "weak references to torch's optimizer",
    "getlr_has_epoch": "a user subclass of torch's LRScheduler",
    "momentumless_optimizer": "the torch optimizer's `defaults`",
    "constant_for_constant_epoch": "`step(epoch)` with a repeated epoch",
    "before_step": "`get_last_lr()` of a ChainedScheduler before any step (torch's bookkeeping)",
    "closed_form": "its reference is the same scheduler stepped with `step(epoch)`",
    "WarmRestarts_lr2": "`step(epoch)` with fractional epochs",
    "WarmRestarts_lr3": "`step(epoch)` with epochs out of order",
    "lr_continue": "resuming on an optimizer whose lr another scheduler changed in place (ours take the lr given)",
    "compound": "two schedulers changing one optimizer's lr in place (here: `ChainedScheduler`)",
    "after_multiplicative": "two schedulers taking turns on one optimizer's lr in place (here: `SequentialLR`)",
    "swalr_hypers": "torch's message texts (the exception classes match: tests/test_dropin.py)",
}


def _not_applicable(name: str) -> str | None:
    for key, why in NOT_APPLICABLE.items():
        if key in name:
            return why
    return None


class _Shim(torch_schedulers.LRScheduler):
    """A statefulsched scheduler behind a torch scheduler's interface, on a torch optimizer."""

    ours: type = None  # the statefulsched class
    takes_lr = True

    def __init__(self, optimizer, *args, **kwargs):
        self.optimizer = optimizer
        # torch's `base_lrs`: the optimizer's `initial_lr`, which its first scheduler records.
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        lrs = [group["initial_lr"] for group in optimizer.param_groups]
        first = [lrs[0] if len(lrs) == 1 else lrs] if self.takes_lr else []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.sched = self.ours(*first, *args, **kwargs)
        self._write()

    def _write(self):
        write_groups(self.optimizer, "lr", self.sched.lr)
        if getattr(self.sched, "momentum", None) is not None:
            write_groups(self.optimizer, "momentum", self.sched.momentum)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self, *args):
        self.sched = self.sched.step(*args)
        self._write()

    def get_last_lr(self):
        return self._last_lr


def _shim(name: str, ours: type, takes_lr: bool = True) -> type:
    return type(name, (_Shim,), {"ours": ours, "takes_lr": takes_lr})


class SequentialLR(_Shim):
    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group.get("initial_lr", group["lr"])
        self.sched = ss.SequentialLR([s.sched for s in schedulers], milestones, last_epoch=last_epoch)
        self._write()


class ChainedScheduler(_Shim):
    def __init__(self, schedulers, optimizer=None):
        self.optimizer = schedulers[0].optimizer
        self.children = schedulers
        self.sched = ss.ChainedScheduler([s.sched for s in schedulers])
        self._write()

    def _write(self):
        super()._write()
        # torch's children step the shared lr in place: the last one's `get_last_lr()` is the chain's.
        self.children[-1]._last_lr = list(self._last_lr)


class ReduceLROnPlateau(_Shim):
    ours = ss.ReduceLROnPlateau


SHIMS = {
    "LambdaLR": _shim("LambdaLR", ss.LambdaLR),
    "MultiplicativeLR": _shim("MultiplicativeLR", ss.MultiplicativeLR),
    "StepLR": _shim("StepLR", ss.StepLR),
    "MultiStepLR": _shim("MultiStepLR", ss.MultiStepLR),
    "ConstantLR": _shim("ConstantLR", ss.ConstantLR),
    "LinearLR": _shim("LinearLR", ss.LinearLR),
    "ExponentialLR": _shim("ExponentialLR", ss.ExponentialLR),
    "PolynomialLR": _shim("PolynomialLR", ss.PolynomialLR),
    "CosineAnnealingLR": _shim("CosineAnnealingLR", ss.CosineAnnealingLR),
    "CosineAnnealingWarmRestarts": _shim("CosineAnnealingWarmRestarts", ss.CosineAnnealingWarmRestarts),
    "CyclicLR": _shim("CyclicLR", ss.CyclicLR, takes_lr=False),
    "OneCycleLR": _shim("OneCycleLR", ss.OneCycleLR, takes_lr=False),
    "ReduceLROnPlateau": ReduceLROnPlateau,
    "SequentialLR": SequentialLR,
    "ChainedScheduler": ChainedScheduler,
    "SWALR": _shim("SWALR", ss.SWALR),
}


def load(path: str):
    """torch's test module, with the scheduler classes it imported replaced by the shims."""
    spec = importlib.util.spec_from_file_location("torch_test_lrscheduler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, shim in SHIMS.items():
        if hasattr(module, name):
            setattr(module, name, shim)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="PyTorch's test/optim/test_lrscheduler.py")
    args = parser.parse_args()
    module = load(args.path)
    case = module.TestLRScheduler
    names = sorted(n for n, _ in inspect.getmembers(case, inspect.isfunction) if n.startswith("test_"))
    applicable = [n for n in names if _not_applicable(n) is None]
    result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(
        unittest.TestSuite(case(n) for n in applicable)
    )
    print(f"\n{len(names)} tests in torch's file; {len(applicable)} check values and apply here:")
    print(f"  passed {result.testsRun - len(result.failures) - len(result.errors)} of {result.testsRun}")
    for test, _ in result.failures + result.errors:
        print(f"  FAILED {test.id().rsplit('.', 1)[-1]}")
    print("Not applicable to an immutable design (not run):")
    for n in names:
        if (why := _not_applicable(n)) is not None:
            print(f"  {n}: {why}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
