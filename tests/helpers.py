"""Run a statefulsched scheduler and the same torch scheduler side by side.

A scheduler is described once, as a `Spec`, and built twice: by `build_ours` as a
statefulsched module and by `build_torch` on a real torch optimizer. `run_both` steps both
and returns their learning rates (and momenta) after construction and after each step.
"""

import dataclasses
import importlib.util
import pathlib
import types
import warnings
from typing import Any

import numpy as np
import torch

import statefulsched as ss


@dataclasses.dataclass
class Spec:
    name: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    children: list["Spec"] = dataclasses.field(default_factory=list)
    # Lambdas need a jnp version for us and a Python one for torch.
    torch_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def uses_metric(self) -> bool:
        return self.name == "ReduceLROnPlateau" or any(c.uses_metric for c in self.children)

    @property
    def takes_lr(self) -> bool:
        return self.name not in ("CyclicLR", "OneCycleLR")

    def __repr__(self):
        inner = ", ".join(map(repr, self.children))
        return f"{self.name}({inner}{', ' if inner else ''}{self.kwargs})"


def build_ours(spec: Spec, lr):
    if spec.name == "SequentialLR":
        return ss.SequentialLR([build_ours(c, lr) for c in spec.children], **spec.kwargs)
    if spec.name == "ChainedScheduler":
        return ss.ChainedScheduler([build_ours(c, lr) for c in spec.children], **spec.kwargs)
    cls = getattr(ss, spec.name)
    return cls(lr, **spec.kwargs) if spec.takes_lr else cls(**spec.kwargs)


def _torch_optimizer(lrs: list[float], beta: bool):
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    if beta:
        return torch.optim.Adam(params, lr=lrs[0])
    return torch.optim.SGD(params, lr=lrs[0], momentum=0.9)


def build_torch(spec: Spec, optimizer):
    from torch.optim import lr_scheduler, swa_utils

    if spec.name in ("SequentialLR", "ChainedScheduler"):
        children = [build_torch(c, optimizer) for c in spec.children]
        if spec.name == "SequentialLR":
            return lr_scheduler.SequentialLR(optimizer, children, **spec.kwargs)
        return lr_scheduler.ChainedScheduler(children)
    kwargs = {**spec.kwargs, **spec.torch_kwargs}
    if kwargs.get("last_epoch", -1) >= 0:
        # torch resumes from the optimizer's param groups: `initial_lr` (ours: the lr given),
        # and for OneCycleLR/CyclicLR the values their fresh constructor writes there.
        if spec.name in ("OneCycleLR", "CyclicLR"):
            fresh = {k: v for k, v in kwargs.items() if k != "last_epoch"}
            getattr(lr_scheduler, spec.name)(optimizer, **fresh)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
    if spec.name == "SWALR":
        return swa_utils.SWALR(optimizer, **kwargs)
    return getattr(lr_scheduler, spec.name)(optimizer, **kwargs)


def _torch_step(sched, metric):
    """Step a torch scheduler; composites forward `metric` to ReduceLROnPlateau children (ours do)."""
    from torch.optim import lr_scheduler

    if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
        sched.step(metric)
    elif isinstance(sched, lr_scheduler.ChainedScheduler):
        for child in sched._schedulers:
            _torch_step(child, metric)
        sched._last_lr = [g["lr"] for g in sched._schedulers[-1].optimizer.param_groups]
    elif isinstance(sched, lr_scheduler.SequentialLR):
        sched.last_epoch += 1
        idx = int(np.searchsorted(sched._milestones, sched.last_epoch, side="right"))
        child = sched._schedulers[idx]
        if idx > 0 and sched._milestones[idx - 1] == sched.last_epoch:
            if isinstance(child, lr_scheduler.ReduceLROnPlateau):
                _restart_plateau(child)
            else:
                child._update_lr(0)
        else:
            _torch_step(child, metric)
        sched._last_lr = [g["lr"] for g in sched.optimizer.param_groups]
    else:
        sched.step()


def _restart_plateau(child):
    # Our documented semantics for a plateau entering a SequentialLR: back to its initial
    # state (lr = the optimizer's initial lr, fresh counters).
    child._reset()
    child.last_epoch = 0
    for group, base in zip(child.optimizer.param_groups, child._initial_lrs):
        group["lr"] = base


def _momentum(optimizer, beta: bool):
    if beta:
        return [g["betas"][0] for g in optimizer.param_groups]
    return [g["momentum"] for g in optimizer.param_groups]


def run_torch(spec: Spec, lrs: list[float], metrics: list[float], beta: bool = False):
    """Torch's lrs (and momenta) after construction and after each step, shape (steps+1, G)."""

    optimizer = _torch_optimizer(lrs, beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.uses_metric and spec.name in ("SequentialLR", "ChainedScheduler"):
            sched = _build_with_plateaus(spec, optimizer)
        else:
            sched = build_torch(spec, optimizer)
        lr_hist = [[g["lr"] for g in optimizer.param_groups]]
        m_hist = [_momentum(optimizer, beta)]
        for metric in metrics:
            optimizer.step()
            _torch_step(sched, metric)
            lr_hist.append([g["lr"] for g in optimizer.param_groups])
            m_hist.append(_momentum(optimizer, beta))
    return np.asarray(lr_hist, dtype=np.float64), np.asarray(m_hist, dtype=np.float64)


def _build_with_plateaus(spec: Spec, optimizer):
    """torch refuses ReduceLROnPlateau inside composites; assemble the composite by hand."""
    from torch.optim import lr_scheduler

    def build(s):
        if s.name in ("SequentialLR", "ChainedScheduler"):
            children = [build(c) for c in s.children]
            obj = object.__new__(getattr(lr_scheduler, s.name))
            obj.optimizer = optimizer
            obj._schedulers = children
            if s.name == "SequentialLR":
                obj._milestones = list(s.kwargs["milestones"])
                obj.last_epoch = 0
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"]
                for c in children:
                    if hasattr(c, "last_epoch") and not isinstance(c, lr_scheduler.ReduceLROnPlateau):
                        c.last_epoch -= 1
                first = children[int(np.searchsorted(obj._milestones, 0, side="right"))]
                if isinstance(first, lr_scheduler.ReduceLROnPlateau):
                    _restart_plateau(first)
                else:
                    first._initial_step()
            return obj
        sched = build_torch(s, optimizer)
        if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            sched._initial_lrs = [g["initial_lr"] if "initial_lr" in g else g["lr"] for g in optimizer.param_groups]
        return sched

    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return build(spec)


def run_ours(spec: Spec, lr, metrics: list[float], quiet: bool = False):
    """Our lrs (and momenta) after construction and after each step. `quiet`: configurations
    that warn (torch's edge cases, tested for their warnings elsewhere) build silently."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", UserWarning)
        sched = build_ours(spec, lr)
    lrs = [np.atleast_1d(np.asarray(sched.lr))]
    moms = [np.atleast_1d(np.asarray(sched.momentum))] if getattr(sched, "momentum", None) is not None else None
    for metric in metrics:
        sched = sched.step(metric if spec.uses_metric else None)
        lrs.append(np.atleast_1d(np.asarray(sched.lr)))
        if moms is not None:
            moms.append(np.atleast_1d(np.asarray(sched.momentum)))
    return np.stack(lrs), (np.stack(moms) if moms is not None else None), sched


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> types.ModuleType:
    """Import `examples/<name>.py` (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"statefulsched_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
