"""`state_dict` and `load_state_dict`: a scheduler's state as torch's scheduler keeps it.

`state_dict(sched)` writes the state with the keys of the equivalent torch scheduler, as
plain Python data, so that torch's `load_state_dict` takes it and a log or `json.dumps`
shows it. `load_state_dict(sched, state)` reads such a dict, or one saved by torch itself
part way through a run, into a copy of `sched`, which gives the configuration: what the
dict says about the configuration must agree with it.

Each torch class has an entry in `_TORCH` (`_Torch`): the keys particular to the class
(they tell one class's dict from another's), the configuration as torch writes it
(exported, and compared on load), torch's other state keys, and a loader giving our state
fields from a dict. From a torch dict, `last_epoch` is always taken; the lr is taken
from `_last_lr` where ours is a recurrence (`MultiplicativeLR`, `ReduceLROnPlateau`, the
composites); for closed forms the lr (and the momentum, which torch keeps only in the
optimizer) is recomputed from the state by the scheduler's own compiled step, then
compared with `_last_lr` wherever that is the scheduler's own lr.

Our dicts carry one more key, `"statefulsched"`: the class, a format version, the
`last_epoch` written, the static configuration (modes, strategies, function names), the
configuration torch keeps in the optimizer (e.g. `OneCycleLR`'s `max_lr`) and the state
torch has no key for (`CyclicLR`/`OneCycleLR`'s momentum). While its `last_epoch` matches
the dict's, every state value is read back as written, so a round trip is exact; once
torch has stepped the dict (torch copies the key into the scheduler's `__dict__`, where
nothing reads it, and saves it again), the dict is read as torch's. Schedulers without a
torch equivalent get a generic dict: `last_epoch`, `_last_lr`, their other state fields
and their numeric configuration by field name.
"""

import collections
import dataclasses
import math
import types
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._base import AbstractScheduler, replace
from ._fingerprint import static_config
from ._schedulers.chained import ChainedScheduler
from ._schedulers.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from ._schedulers.cyclic import CyclicLR
from ._schedulers.exponential import ExponentialLR, PolynomialLR
from ._schedulers.lambda_ import LambdaLR, MultiplicativeLR
from ._schedulers.onecycle import _THREE_PHASES, _TWO_PHASES, OneCycleLR
from ._schedulers.plateau import ReduceLROnPlateau
from ._schedulers.sequential import SequentialLR
from ._schedulers.step import MultiStepLR, StepLR
from ._schedulers.swa import SWALR
from ._schedulers.warmup import ConstantLR, LinearLR
from ._validation import is_traced

_KEY = "statefulsched"
_VERSION = 1
_SAME_ARGUMENTS = "build the scheduler with the same arguments as the one that was saved"
# Keys with one value per param group: a length mismatch means another number of groups.
_GROUP_KEYS = frozenset(
    {"base_lrs", "_last_lr", "max_lrs", "min_lrs", "base_momentums", "max_momentums", "lr_lambdas"}
    | {"lr", "max_lr", "min_lr", "base_momentum", "max_momentum", "swa_lr", "momentum"}
)


# ---------------------------------------------------------------------------------------
# Plain data


def _float(x: Any) -> float:
    """A float leaf's value as a Python float that reads back to the same value.

    A float32 is written as the shortest decimal that rounds to it (`0.1`, not
    `0.10000000149011612`): torch then gets the hyperparameter the user typed, and a log
    reads well. Reading it back goes through a float64 before the rounding to float32,
    which gives the same float32 (float64 has more than twice float32's precision, so the
    double rounding is harmless); `test_state_dict.py` checks it on many values.
    """
    x = np.asarray(x)
    if x.dtype == np.float64:
        return float(x)
    return float(np.format_float_scientific(x[()], unique=True))


def _plain(x: Any) -> Any:
    """A leaf or static value as plain Python data (floats, ints, bools, nested lists)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return np.asarray([_float(v) for v in a.ravel()], np.float64).reshape(a.shape).tolist()
    return a.tolist()


def _groups(x: Any) -> list[float]:
    """A per-group float leaf as torch's list of one float per param group."""
    return [_float(v) for v in np.atleast_1d(np.asarray(x))]


def _n_groups(s: AbstractScheduler) -> int:
    return 1 if np.ndim(s.lr) == 0 else int(np.shape(s.lr)[0])


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    """A real number: Python or NumPy, or a 0-d tensor (torch keeps tensor lrs as tensors)."""
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return hasattr(v, "__float__") and getattr(v, "shape", None) == () and "bool" not in str(getattr(v, "dtype", ""))


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 200 else text[:200] + "..."


def _elements(milestones: Any) -> Any:
    """MultiStepLR's `milestones` (torch: a `Counter`; string keys after JSON) as a sorted list."""
    if isinstance(milestones, Mapping):
        try:
            return sorted(int(m) for m, n in milestones.items() for _ in range(int(n)))
        except (TypeError, ValueError):
            return milestones
    return milestones


def _same(theirs: Any, ours: Any, tol: float) -> bool:
    """Whether a value read from a state dict equals ours; floats to `tol` relative."""
    if ours is None or isinstance(ours, str):
        return type(theirs) is type(ours) and theirs == ours
    if isinstance(ours, bool):
        return isinstance(theirs, (bool, np.bool_)) and bool(theirs) == ours
    if isinstance(ours, int):
        return _is_int(theirs) and int(theirs) == ours
    if isinstance(ours, float):
        if not _is_number(theirs):
            return False
        a = float(theirs)
        if a == ours or (math.isnan(a) and math.isnan(ours)):
            return True
        return math.isfinite(a) and math.isfinite(ours) and abs(a - ours) <= tol * max(abs(a), abs(ours))
    if isinstance(ours, Mapping):
        return (
            isinstance(theirs, Mapping)
            and set(theirs) == set(ours)
            and all(_same(theirs[k], ours[k], tol) for k in ours)
        )
    if isinstance(ours, list):
        return (
            isinstance(theirs, (list, tuple))
            and len(theirs) == len(ours)
            and all(_same(a, b, tol) for a, b in zip(theirs, ours))
        )
    return theirs == ours


def _is_plain(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_is_plain(x) for x in v)
    return isinstance(v, Mapping) and all(isinstance(k, str) and _is_plain(x) for k, x in v.items())


def _public(attributes: Mapping) -> dict:
    return {k: v for k, v in attributes.items() if isinstance(k, str) and not k.startswith("_") and _is_plain(v)}


def _callable_state(fn: Callable | None) -> dict | None:
    """torch's record of a function: `None` for a plain function, else a callable object's
    attributes (ours: the public, plain ones, so the dict stays JSON-able)."""
    if fn is None or isinstance(fn, types.FunctionType) or not hasattr(fn, "__dict__"):
        return None
    return _public(vars(fn)) or None


# ---------------------------------------------------------------------------------------
# Reading a state dict


@dataclasses.dataclass(frozen=True)
class _Ctx:
    """Where in a (possibly nested) state dict we are, for messages, and how to read it there.

    - `own_lr`: whether `_last_lr` is this scheduler's own lr (not the lr it was chained on).
    - `unstarted`: inside a child of `SequentialLR` that has not started yet, which torch
        leaves at `last_epoch = -1` (ours stays at 0).
    """

    where: str
    name: str
    tol: float
    own_lr: bool = True
    unstarted: bool = False

    def child(self, i: int, child: AbstractScheduler, *, own_lr: bool, unstarted: bool = False) -> "_Ctx":
        name = type(child).__name__
        where = f"{self.where}, `_schedulers[{i}]` (the `{name}`)"
        return _Ctx(where, name, self.tol, own_lr, self.unstarted or unstarted)

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.where}: {message}")


def _get(sd: Mapping, key: str, ctx: _Ctx) -> Any:
    if key not in sd:
        keys = ", ".join(f"`{k}`" for k in sd) or "none"
        raise ctx.fail(
            f"the state dict has no `{key}`, so it is not a complete state dict of a `{ctx.name}` (its keys: {keys})."
        )
    return sd[key]


def _read_int(sd: Mapping, key: str, ctx: _Ctx, low: int = 0) -> int:
    value = _get(sd, key, ctx)
    if not _is_int(value) or value < low or value > np.iinfo(np.int32).max:
        raise ctx.fail(f"`{key}` must be an integer >= {low} (and fit in int32), got {_show(value)} in the state dict.")
    return int(value)


def _read_last_epoch(sd: Mapping, ctx: _Ctx) -> int:
    if ctx.unstarted and _is_int(sd.get("last_epoch")) and sd["last_epoch"] == -1:
        return 0
    return _read_int(sd, "last_epoch", ctx)


def _groups_message(key: str, theirs: int, ours: int) -> str:
    groups = "1 param group" if ours == 1 else f"{ours} param groups"
    return (
        f"`{key}` has {theirs} values (one per param group) in the state dict but this scheduler has {groups}; "
        "build it with one lr per param group of the optimizer that was saved."
    )


def _read_numbers(sd: Mapping, key: str, ctx: _Ctx, n: int) -> list[float]:
    value = _get(sd, key, ctx)
    if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
        raise ctx.fail(f"`{key}` must be a list of numbers (one per param group), got {_show(value)}.")
    if len(value) != n:
        raise ctx.fail(_groups_message(key, len(value), n))
    return [float(v) for v in value]


def _read_children(sd: Mapping, s: AbstractScheduler, ctx: _Ctx) -> list[Mapping]:
    children = _get(sd, "_schedulers", ctx)
    if not isinstance(children, (list, tuple)):
        raise ctx.fail(f"`_schedulers` must be a list of state dicts, got {_show(children)}.")
    if len(children) != len(s.schedulers):
        raise ctx.fail(
            f"`_schedulers` has {len(children)} state dicts but this scheduler has {len(s.schedulers)} "
            f"schedulers; {_SAME_ARGUMENTS}."
        )
    return list(children)


def _check_config(sd: Mapping, expected: Mapping[str, Any], ctx: _Ctx, prefix: str = "") -> None:
    """Every configuration value in `expected` (as torch writes it) must be the one in `sd`."""
    for key, ours in expected.items():
        if key not in sd:
            if not prefix:
                _get(sd, key, ctx)  # raises, listing the keys the dict has
            raise ctx.fail(f"the state dict has no `{prefix}{key}` (this scheduler has {_show(ours)}).")
        theirs = sd[key]
        if key == "milestones":
            theirs, ours = _elements(theirs), _elements(ours)
        if _same(theirs, ours, ctx.tol):
            continue
        if key in _GROUP_KEYS and isinstance(theirs, (list, tuple)) and isinstance(ours, list):
            if len(theirs) != len(ours):
                raise ctx.fail(_groups_message(prefix + key, len(theirs), len(ours)))
        raise ctx.fail(
            f"`{prefix}{key}` is {_show(theirs)} in the state dict but {_show(ours)} in this scheduler; "
            f"{_SAME_ARGUMENTS}."
        )


def _check_callable(key: str, entry: Any, fn: Callable | None, ctx: _Ctx) -> None:
    """torch saves no function, only a callable object's attributes: those at least must agree."""
    if entry is None:
        return
    if not isinstance(entry, Mapping):
        raise ctx.fail(f"`{key}` must be None or a dict of attributes, got {_show(entry)} in the state dict.")
    theirs, ours = _public(entry), _callable_state(fn) or {}
    if theirs and not _same(theirs, ours, ctx.tol):
        raise ctx.fail(
            f"`{key}` is {_show(theirs)} in the state dict (the attributes of a callable object) but "
            f"{_show(ours)} for this scheduler's function; {_SAME_ARGUMENTS}."
        )


def _check_lambdas(s: AbstractScheduler, sd: Mapping, ctx: _Ctx) -> None:
    value = _get(sd, "lr_lambdas", ctx)
    if not isinstance(value, (list, tuple)):
        raise ctx.fail(f"`lr_lambdas` must be a list (one entry per param group), got {_show(value)}.")
    if len(value) != _n_groups(s):
        raise ctx.fail(_groups_message("lr_lambdas", len(value), _n_groups(s)))
    for i, (entry, fn) in enumerate(zip(value, s.lr_lambda)):
        _check_callable(f"lr_lambdas[{i}]", entry, fn, ctx)


def _assign(s: AbstractScheduler, fields: Mapping[str, Any]) -> AbstractScheduler:
    """`s` with the given state, each value written into the existing leaf's dtype and shape."""
    changes = {}
    for name, value in fields.items():
        old = getattr(s, name)
        if name == "schedulers":
            changes[name] = tuple(value)
        elif old is not None:
            changes[name] = jnp.asarray(np.asarray(value, dtype=old.dtype).reshape(old.shape))
    return replace(s, **changes)


def _tolerances(s: AbstractScheduler) -> tuple[float, float]:
    """`(rtol, atol relative to the run's scale)` for comparing our lr with torch's float64 one."""
    return (1e-4, 1e-6) if np.dtype(s.lr.dtype) == np.float32 else (1e-7, 1e-12)


def _check_lr(s: AbstractScheduler, new: AbstractScheduler, sd: Mapping, ctx: _Ctx, hint: str | None) -> None:
    """The lr recomputed from the state must be `_last_lr`, torch's own record of it."""
    theirs = np.asarray(_read_numbers(sd, "_last_lr", ctx, _n_groups(s)))
    ours = np.atleast_1d(np.asarray(new.lr, np.float64))
    rtol, atol = _tolerances(s)
    base = sd.get("base_lrs")
    scale = max(np.max(np.abs(theirs)), np.max(np.abs(ours)))
    if isinstance(base, (list, tuple)) and all(_is_number(v) for v in base) and base:
        scale = max(scale, max(abs(float(v)) for v in base))
    if np.all(np.abs(theirs - ours) <= rtol * np.maximum(np.abs(theirs), np.abs(ours)) + atol * scale):
        return
    raise ctx.fail(
        f"`_last_lr` is {theirs.tolist()} in the state dict but this scheduler's lr at `last_epoch` "
        f"{int(new.last_epoch)} is {_groups(new.lr)}: the saved scheduler had other hyperparameters (torch "
        "saves no functions, and keeps some settings in the optimizer), or the optimizer's lr was changed "
        f"outside the scheduler; {hint or _SAME_ARGUMENTS}."
    )


def _stored(s: AbstractScheduler, sd: Mapping, ctx: _Ctx) -> dict[str, Any]:
    """The lr (and momentum) as our own `state_dict` wrote them."""
    fields = {"lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s))}
    if getattr(s, "momentum", None) is not None:
        fields["momentum"] = _read_numbers(sd[_KEY], "momentum", ctx, _n_groups(s))
    return fields


def _recomputed(
    s: AbstractScheduler, sd: Mapping, ctx: _Ctx, state: dict[str, int], hint: str | None = None
) -> dict[str, Any]:
    """The state fields of `s` at `state`, lr (and momentum) computed by its own step from the step before."""
    before = dict(state, last_epoch=state["last_epoch"] - 1)
    if "T_cur" in state:
        before["T_cur"] = state["T_cur"] - 1
    new = _assign(s, before).step()
    if ctx.own_lr:
        _check_lr(s, new, sd, ctx, hint)
    return {name: getattr(new, name) for name in type(s)._state_fields}


# ---------------------------------------------------------------------------------------
# The torch classes


@dataclasses.dataclass(frozen=True)
class _Torch:
    """How the torch scheduler of one of our classes keeps its state.

    - `keys`: torch's keys particular to the class (a dict of another class lacks one).
    - `config(s)`: the configuration, with torch's keys and as torch writes it; exported,
        and compared with the dict's on load.
    - `load(s, sd, ctx, ours)`: our state fields from the dict (`ours`: written by us and
        not stepped since, so every value is read as stored).
    - `state(s, unstarted)`: torch's other keys (state, and settings not compared).
    - `hidden(s)`: configuration torch keeps in the optimizer's param groups; ours goes
        into our extra key and is compared when present.
    - `extra_state(s)`: state torch has no key for (into our extra key).
    - `lrscheduler`: whether it has `LRScheduler`'s bookkeeping keys (`_step_count`, ...).
    """

    keys: tuple[str, ...]
    config: Callable[[Any], dict]
    load: Callable[[Any, Mapping, _Ctx, bool], dict]
    state: Callable[[Any, bool], dict] = lambda s, unstarted: {}
    hidden: Callable[[Any], dict] = lambda s: {}
    extra_state: Callable[[Any], dict] = lambda s: {}
    lrscheduler: bool = True


def _closed_form(s, sd, ctx, ours):
    """The lr (and momentum) is a function of `last_epoch`: recomputed, unless the dict is ours."""
    k = _read_last_epoch(sd, ctx)
    if ours:
        return {"last_epoch": k, **_stored(s, sd, ctx)}
    return _recomputed(s, sd, ctx, {"last_epoch": k})


def _lambda_config(s):
    """`LambdaLR`, `MultiplicativeLR`: torch keeps `base_lrs` and, in `lr_lambdas`, `None` for each
    plain function (a callable object's `__dict__` otherwise): the functions are not saved, so the
    two classes' dicts look alike, and ours must be built with the functions of the saved run."""
    return {"base_lrs": _groups(s.base_lr)}


def _lambda_state(s, unstarted):
    return {"lr_lambdas": [_callable_state(fn) for fn in s.lr_lambda]}


def _lambda_load(s, sd, ctx, ours):
    """`LambdaLR`: a closed form."""
    _check_lambdas(s, sd, ctx)
    return _closed_form(s, sd, ctx, ours)


def _multiplicative_load(s, sd, ctx, ours):
    """`MultiplicativeLR`: a recurrence, so the lr is torch's `_last_lr`."""
    _check_lambdas(s, sd, ctx)
    return {"last_epoch": _read_last_epoch(sd, ctx), "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s))}


def _step_lr(s):
    """`StepLR`: `step_size`, `gamma`, `base_lrs`; the lr is recomputed from `last_epoch`."""
    return {"step_size": int(s.step_size), "gamma": _float(s.gamma), "base_lrs": _groups(s.base_lr)}


def _multistep_lr(s):
    """`MultiStepLR`: `milestones` (a `Counter` of step: repeats, as torch needs it), `gamma`, `base_lrs`."""
    milestones = collections.Counter(np.asarray(s.milestones).tolist())
    return {"milestones": milestones, "gamma": _float(s.gamma), "base_lrs": _groups(s.base_lr)}


def _constant_lr(s):
    """`ConstantLR`: `factor`, `total_iters`, `base_lrs`."""
    return {"factor": _float(s.factor), "total_iters": int(s.total_iters), "base_lrs": _groups(s.base_lr)}


def _linear_lr(s):
    """`LinearLR`: `start_factor`, `end_factor`, `total_iters`, `base_lrs`."""
    return {
        "start_factor": _float(s.start_factor),
        "end_factor": _float(s.end_factor),
        "total_iters": int(s.total_iters),
        "base_lrs": _groups(s.base_lr),
    }


def _exponential_lr(s):
    """`ExponentialLR`: `gamma`, `base_lrs`."""
    return {"gamma": _float(s.gamma), "base_lrs": _groups(s.base_lr)}


def _polynomial_lr(s):
    """`PolynomialLR`: `total_iters`, `power`, `base_lrs`."""
    return {"total_iters": int(s.total_iters), "power": _float(s.power), "base_lrs": _groups(s.base_lr)}


def _cosine_lr(s):
    """`CosineAnnealingLR`: `T_max`, `eta_min`, `base_lrs` (closed form standalone; chained, the lr
    it returns is the shared one, which its chained step reads rather than its own)."""
    return {"T_max": int(s.T_max), "eta_min": _float(s.eta_min), "base_lrs": _groups(s.base_lr)}


def _restarts_config(s):
    """`CosineAnnealingWarmRestarts`: `T_0`, `T_mult`, `eta_min`, `base_lrs`; the state is
    `T_cur` (steps since the restart) and `T_i` (the current period), taken from torch, and
    the lr is recomputed from them. (torch's `step` here never counts `_step_count`, which stays
    0 and is read by nothing; ours writes `last_epoch + 1` as for the other classes.)"""
    return {"T_0": int(s.T_0), "T_mult": int(s.T_mult), "eta_min": _float(s.eta_min), "base_lrs": _groups(s.base_lr)}


def _restarts_state(s, unstarted):
    return {"T_i": int(s.T_i), "T_cur": int(s.T_cur)}


def _restarts_load(s, sd, ctx, ours):
    k = _read_last_epoch(sd, ctx)
    t_i = _read_int(sd, "T_i", ctx, low=1)
    t_cur = _read_int(sd, "T_cur", ctx)
    if t_cur >= t_i:
        raise ctx.fail(f"`T_cur` ({t_cur}) must be smaller than `T_i` ({t_i}) in the state dict.")
    if ours:
        return {"last_epoch": k, "T_i": t_i, "T_cur": t_cur, **_stored(s, sd, ctx)}
    return _recomputed(s, sd, ctx, {"last_epoch": k, "T_i": t_i, "T_cur": t_cur})


def _cyclic_config(s):
    """`CyclicLR`: `base_lrs`, `max_lrs`, `total_size` and `step_ratio` (torch's form of
    `step_size_up`/`step_size_down`), `gamma`, `scale_mode`, `cycle_momentum` and the momentum
    bounds; `mode` only without `scale_fn` (torch ignores it then). The lr and momentum are
    recomputed from `last_epoch`."""
    up, down = int(s.step_size_up), int(s.step_size_down)
    config = {
        "base_lrs": _groups(s.base_lr),
        "max_lrs": _groups(s.max_lr),
        "total_size": float(up + down),
        "step_ratio": up / (up + down),
        "gamma": _float(s.gamma),
        "scale_mode": s.scale_mode,
        "cycle_momentum": s.momentum is not None,
    }
    if s.scale_fn is None:
        config["mode"] = s.mode
    if s.momentum is not None:
        config.update(base_momentums=_groups(s.base_momentum), max_momentums=_groups(s.max_momentum))
    return config


def _cyclic_state(s, unstarted):
    # `use_beta1` (whether the optimizer is Adam-like) is left out: it describes torch's
    # optimizer, and a wrong value would make torch write the momentum into the wrong key.
    state = {"_scale_fn_custom": None if s.scale_fn is None else _callable_state(s.scale_fn)}
    if s.scale_fn is not None:
        state["mode"] = s.mode
    return state


def _cyclic_load(s, sd, ctx, ours):
    # torch's own `CyclicLR.load_state_dict` pops `_scale_fn_custom` out of the dict it is
    # given, so a dict once loaded into torch lacks it: missing means none.
    _check_callable("_scale_fn_custom", sd.get("_scale_fn_custom"), s.scale_fn, ctx)
    return _closed_form(s, sd, ctx, ours)


def _momentum(s):
    return {} if s.momentum is None else {"momentum": _groups(s.momentum)}


def _onecycle_config(s):
    """`OneCycleLR`: `total_steps`, `_schedule_phases` (phase end steps: torch's form of
    `pct_start` and `three_phase`), `_anneal_func_type`, `cycle_momentum`, and `base_lrs` (the
    initial lr, `max_lr / div_factor`). torch keeps `max_lr`, `min_lr` and the momentum bounds in
    the optimizer's param groups, so a torch dict cannot be checked for them beyond the initial
    lr and the current lr. The lr and momentum are recomputed from `last_epoch`."""
    ends = np.asarray(s.phase_end_step).tolist()
    offsets = [_float(f) for f in np.asarray(s.phase_end_offset)]
    phases = []
    for i, (lr_start, lr_end, m_start, m_end) in enumerate(_THREE_PHASES if s.three_phase else _TWO_PHASES):
        last = i == len(ends) - 1
        phases.append(
            {
                "end_step": int(s.total_steps) - 1 if last else float(ends[i]) + offsets[i],
                "start_lr": f"{lr_start}_lr",
                "end_lr": f"{lr_end}_lr",
                "start_momentum": f"{m_start}_momentum",
                "end_momentum": f"{m_end}_momentum",
            }
        )
    return {
        "total_steps": int(s.total_steps),
        "_schedule_phases": phases,
        "_anneal_func_type": s.anneal_strategy,
        "cycle_momentum": s.momentum is not None,
        "base_lrs": _groups(s.initial_lr),
    }


def _onecycle_hidden(s):
    hidden = {"max_lr": _groups(s.max_lr), "min_lr": _groups(s.min_lr)}
    if s.momentum is not None:
        hidden.update(base_momentum=_groups(s.base_momentum), max_momentum=_groups(s.max_momentum))
    return hidden


def _onecycle_load(s, sd, ctx, ours):
    k = _read_last_epoch(sd, ctx)
    if k > int(s.total_steps):
        raise ctx.fail(f"`last_epoch` is {k} in the state dict, past `total_steps` ({int(s.total_steps)}).")
    return _closed_form(s, sd, ctx, ours)


def _plateau_config(s):
    """`ReduceLROnPlateau`: `factor`, `min_lrs`, `patience`, `cooldown`, `eps`, `mode`, `threshold`,
    `threshold_mode`, `mode_worse`; the state, all taken from torch, is the lr (`_last_lr`, a
    recurrence), `best`, `num_bad_epochs` and `cooldown_counter`. torch keeps no `base_lrs` here."""
    return {
        "factor": _float(s.factor),
        "min_lrs": _groups(s.min_lr),
        "patience": int(s.patience),
        "cooldown": int(s.cooldown),
        "eps": _float(s.eps),
        "mode": s.mode,
        "threshold": _float(s.threshold),
        "threshold_mode": s.threshold_mode,
        "mode_worse": math.inf if s.mode == "min" else -math.inf,
    }


def _plateau_state(s, unstarted):
    min_lrs = _groups(s.min_lr)
    return {
        "default_min_lr": min_lrs[0] if len(set(min_lrs)) == 1 else None,
        "best": _float(s.best),
        "num_bad_epochs": int(s.num_bad_epochs),
        "cooldown_counter": int(s.cooldown_counter),
    }


def _plateau_load(s, sd, ctx, ours):
    best = _get(sd, "best", ctx)
    if not _is_number(best):
        raise ctx.fail(f"`best` must be a number, got {_show(best)} in the state dict.")
    return {
        "last_epoch": _read_last_epoch(sd, ctx),
        "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s)),
        "best": float(best),
        "num_bad_epochs": _read_int(sd, "num_bad_epochs", ctx),
        "cooldown_counter": _read_int(sd, "cooldown_counter", ctx),
    }


def _swa_config(s):
    """`SWALR`: `anneal_epochs`, `_anneal_strategy`; torch keeps `swa_lr` in the optimizer's param
    groups. Standalone the lr is recomputed from `last_epoch` and checked against `_last_lr`.
    torch's SWALR anneals from whatever lr the optimizer had when it started stepping (its
    `base_lrs` are unused), ours from its `lr`: a mismatch says which `lr` to build it with."""
    return {"anneal_epochs": int(s.anneal_epochs), "_anneal_strategy": s.anneal_strategy}


def _swa_load(s, sd, ctx, ours):
    if ours:
        _check_config(sd, {"base_lrs": _groups(s.base_lr)}, ctx)
        return _closed_form(s, sd, ctx, ours)
    k = _read_last_epoch(sd, ctx)
    return _recomputed(s, sd, ctx, {"last_epoch": k}, hint=_swa_hint(s, sd, k))


def _swa_hint(s, sd, k: int) -> str | None:
    """The `lr` that would give `_last_lr` at step `k` (torch's `_get_initial_lr`), if any."""
    lrs, epochs = sd.get("_last_lr"), int(s.anneal_epochs)
    if not isinstance(lrs, (list, tuple)) or not all(_is_number(v) for v in lrs) or len(lrs) != _n_groups(s):
        return None
    t = min(1.0, max(0.0, (max(1, k) if epochs == 0 else k) / max(1, epochs)))
    alpha = t if s.anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2
    if alpha >= 1:
        return None
    starts = [(float(lr) - alpha * swa) / (1 - alpha) for lr, swa in zip(lrs, _groups(s.swa_lr))]
    shown = starts[0] if len(starts) == 1 else starts
    return (
        "torch's SWALR anneals from the lr the optimizer had when it started stepping (after another "
        f"scheduler, say) and ours from its `lr`: with this `swa_lr`, build it with `lr={shown!r}`"
    )


def _sequential_config(s):
    """`SequentialLR`: `_milestones`; the state is `last_epoch`, the lr (`_last_lr`: a
    `MultiplicativeLR` or `SWALR` child continues from it) and the children's dicts in
    `_schedulers`. torch leaves the children that have not started at `last_epoch = -1`."""
    return {"_milestones": np.asarray(s.milestones).tolist()}


def _started(s: SequentialLR, k: int) -> list[bool]:
    """Which children have run by step `k`: the active one and those before it whose turn was not empty."""
    milestones = np.asarray(s.milestones).tolist()
    active = sum(m <= k for m in milestones)
    return [i == active or (i < active and (i > 0 or milestones[0] > 0)) for i in range(len(s.schedulers))]


def _sequential_state(s, unstarted):
    started = _started(s, int(s.last_epoch))
    return {"_schedulers": [_state(c, unstarted or not on) for c, on in zip(s.schedulers, started)]}


def _sequential_load(s, sd, ctx, ours):
    k = _read_last_epoch(sd, ctx)
    children = _read_children(sd, s, ctx)
    started = _started(s, k)
    loaded = []
    for i, (child, child_sd, on) in enumerate(zip(s.schedulers, children, started)):
        own = ctx.own_lr and on and not child._continues_shared_lr
        loaded.append(_load(child, child_sd, ctx.child(i, child, own_lr=own, unstarted=not on)))
    return {"last_epoch": k, "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s)), "schedulers": loaded}


def _chained_config(s):
    """`ChainedScheduler`: nothing but the children's dicts in `_schedulers` and `_last_lr` (the
    shared lr, which non-multiplicative chains carry on from); torch keeps no `last_epoch`, which
    is then the first child's."""
    return {}


def _chained_state(s, unstarted):
    return {"_schedulers": [_state(c, unstarted) for c in s.schedulers]}


def _chained_load(s, sd, ctx, ours):
    children = _read_children(sd, s, ctx)
    loaded = [_load(c, c_sd, ctx.child(i, c, own_lr=False)) for i, (c, c_sd) in enumerate(zip(s.schedulers, children))]
    k = int(sd[_KEY]["last_epoch"]) if ours else int(loaded[0].last_epoch)
    return {"last_epoch": k, "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s)), "schedulers": loaded}


_TORCH: dict[type, _Torch] = {
    LambdaLR: _Torch(("lr_lambdas",), _lambda_config, _lambda_load, _lambda_state),
    MultiplicativeLR: _Torch(("lr_lambdas",), _lambda_config, _multiplicative_load, _lambda_state),
    StepLR: _Torch(("step_size", "gamma"), _step_lr, _closed_form),
    MultiStepLR: _Torch(("milestones", "gamma"), _multistep_lr, _closed_form),
    ConstantLR: _Torch(("factor", "total_iters"), _constant_lr, _closed_form),
    LinearLR: _Torch(("start_factor", "end_factor", "total_iters"), _linear_lr, _closed_form),
    ExponentialLR: _Torch(("gamma",), _exponential_lr, _closed_form),
    PolynomialLR: _Torch(("total_iters", "power"), _polynomial_lr, _closed_form),
    CosineAnnealingLR: _Torch(("T_max", "eta_min"), _cosine_lr, _closed_form),
    CosineAnnealingWarmRestarts: _Torch(
        ("T_0", "T_i", "T_mult", "eta_min", "T_cur"), _restarts_config, _restarts_load, _restarts_state
    ),
    CyclicLR: _Torch(
        ("max_lrs", "total_size", "step_ratio", "gamma", "scale_mode", "cycle_momentum"),
        _cyclic_config,
        _cyclic_load,
        _cyclic_state,
        extra_state=_momentum,
    ),
    OneCycleLR: _Torch(
        ("total_steps", "_schedule_phases", "_anneal_func_type", "cycle_momentum"),
        _onecycle_config,
        _onecycle_load,
        hidden=_onecycle_hidden,
        extra_state=_momentum,
    ),
    ReduceLROnPlateau: _Torch(
        ("factor", "min_lrs", "patience", "cooldown", "eps", "mode", "threshold", "threshold_mode", "best"),
        _plateau_config,
        _plateau_load,
        _plateau_state,
        hidden=lambda s: {"lr": _groups(s.base_lr)},
        lrscheduler=False,
    ),
    SWALR: _Torch(
        ("anneal_epochs", "_anneal_strategy"),
        _swa_config,
        _swa_load,
        lambda s, unstarted: {"base_lrs": _groups(s.base_lr)},
        hidden=lambda s: {"swa_lr": _groups(s.swa_lr)},
    ),
    SequentialLR: _Torch(
        ("_milestones", "_schedulers"), _sequential_config, _sequential_load, _sequential_state, lrscheduler=False
    ),
    ChainedScheduler: _Torch(("_schedulers",), _chained_config, _chained_load, _chained_state, lrscheduler=False),
}


# ---------------------------------------------------------------------------------------
# Schedulers without a torch equivalent


def _generic_config(s: AbstractScheduler) -> dict[str, Any]:
    """The numeric configuration: every array field that is not state (nor the fingerprint)."""
    state = set(type(s)._state_fields) | {"fingerprint"}
    return {
        f.name: _plain(getattr(s, f.name))
        for f in dataclasses.fields(s)
        if f.name not in state and not f.metadata.get("static", False)
    }


def _generic_state(s: AbstractScheduler, unstarted: bool) -> dict[str, Any]:
    out = _generic_config(s)
    out["last_epoch"] = _written_epoch(s, unstarted)
    out["_last_lr"] = _groups(s.lr)
    for name in type(s)._state_fields:
        if name == "schedulers":
            out["_schedulers"] = [_state(child, False) for child in s.schedulers]
        elif name not in ("last_epoch", "lr"):
            out[name] = _plain(getattr(s, name))
    return out


def _generic_load(s: AbstractScheduler, sd: Mapping, ctx: _Ctx) -> dict[str, Any]:
    _check_config(sd, _generic_config(s), ctx)
    fields: dict[str, Any] = {
        "last_epoch": _read_last_epoch(sd, ctx),
        "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s)),
    }
    for name in type(s)._state_fields:
        if name == "schedulers":
            children = _read_children(sd, s, ctx)
            fields[name] = [
                _load(c, c_sd, ctx.child(i, c, own_lr=False)) for i, (c, c_sd) in enumerate(zip(s.schedulers, children))
            ]
        elif name not in ("last_epoch", "lr"):
            old, value = getattr(s, name), _get(sd, name, ctx)
            if old is None:
                if value is not None:
                    raise ctx.fail(f"`{name}` is {_show(value)} in the state dict but this scheduler has none.")
                continue
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                array = None
            if array is None or isinstance(value, (bool, str)) or array.shape != np.shape(old):
                raise ctx.fail(
                    f"`{name}` must be numbers of shape {list(np.shape(old))}, got {_show(value)} in the state dict."
                )
            fields[name] = value
    return fields


# ---------------------------------------------------------------------------------------
# state_dict / load_state_dict


def _written_epoch(s: AbstractScheduler, unstarted: bool) -> int:
    """`last_epoch` as torch writes it: -1 for a `SequentialLR` child that has not started."""
    k = int(s.last_epoch)
    return -1 if unstarted and k == 0 else k


def _state(s: AbstractScheduler, unstarted: bool) -> dict[str, Any]:
    entry = _TORCH.get(type(s))
    written = _written_epoch(s, unstarted)
    if entry is None:
        out = _generic_state(s, unstarted)
    else:
        out = {**entry.config(s), **entry.state(s, unstarted)}
        if type(s) is not ChainedScheduler:
            out["last_epoch"] = written
        if entry.lrscheduler:
            out.update(_step_count=int(s.last_epoch) + 1, _is_initial=False, _get_lr_called_within_step=False)
        out["_last_lr"] = _groups(s.lr)
    extra = {"class": type(s).__name__, "version": _VERSION, "last_epoch": written}
    if static := static_config(s):
        extra["static"] = static
    if entry is not None:
        if hidden := entry.hidden(s):
            extra["config"] = hidden
        extra.update(entry.extra_state(s))
    out[_KEY] = extra
    return out


def _check_concrete(scheduler: AbstractScheduler, call: str) -> None:
    """A state dict is host data: not from traced values, nor from a batch of schedulers."""
    if is_traced(scheduler):
        raise ValueError(
            f"`{type(scheduler).__name__}.{call}` works on the host, so it cannot be called under `jax.jit`, "
            "`lax.scan` or `jax.vmap`; call it on the scheduler they return."
        )
    if np.ndim(scheduler.last_epoch) != 0:
        raise ValueError(
            f"`{type(scheduler).__name__}.{call}`: this is a batch of {np.shape(scheduler.last_epoch)[0]} "
            "schedulers (built with `jax.vmap`); take one, `jax.tree.map(lambda x: x[i], batch)`, and use that."
        )


def state_dict(scheduler: AbstractScheduler) -> dict[str, Any]:
    """The state of `scheduler` with torch's keys, as plain Python data (see the module docstring)."""
    _check_concrete(scheduler, "state_dict")
    return _state(scheduler, False)


def _read_extra(sd: Mapping, ctx: _Ctx) -> Mapping | None:
    extra = sd.get(_KEY)
    if extra is None:
        return None
    valid = isinstance(extra, Mapping) and isinstance(extra.get("class"), str) and _is_int(extra.get("last_epoch"))
    if not valid or not all(isinstance(extra.get(key, {}), Mapping) for key in ("static", "config")):
        raise ctx.fail(
            f"`{_KEY}` must be the entry `state_dict()` writes (a dict with `class`, `version`, `last_epoch` "
            f"and dicts `static` and `config`), got {_show(extra)}."
        )
    if extra.get("version") != _VERSION:
        raise ctx.fail(
            f"`{_KEY}.version` is {_show(extra.get('version'))} in the state dict; this statefulsched reads "
            f"version {_VERSION}."
        )
    return extra


def _is_ours(sd: Any) -> bool:
    """Written by our `state_dict` and not stepped by torch since (`last_epoch` is still ours)."""
    if not isinstance(sd, Mapping) or not isinstance(sd.get(_KEY), Mapping):
        return False
    if "last_epoch" in sd:
        return sd[_KEY].get("last_epoch") == sd["last_epoch"]
    children = sd.get("_schedulers")  # ChainedScheduler: no `last_epoch` of its own
    return isinstance(children, (list, tuple)) and all(_is_ours(c) for c in children)


def _check_class(s: AbstractScheduler, sd: Mapping, extra: Mapping | None, ctx: _Ctx) -> None:
    name = type(s).__name__
    if extra is not None:
        if extra["class"] != name:
            raise ctx.fail(
                f"the state dict was saved from a `{extra['class']}` (says its `{_KEY}` entry), not a `{name}`; "
                f"load it into a `{extra['class']}` built with the arguments of the saved one."
            )
        return
    if type(s) not in _TORCH:
        raise ctx.fail(
            f"`{name}` has no torch equivalent, so only a dict from its own `state_dict()` loads into it, "
            f"and that has a `{_KEY}` entry; this one has none (its keys: {', '.join(f'`{k}`' for k in sd)})."
        )
    matches = [(cls.__name__, entry.keys) for cls, entry in _TORCH.items() if set(entry.keys) <= set(sd)]
    if matches:
        most = max(len(keys) for _, keys in matches)
        best = [(n, keys) for n, keys in matches if len(keys) == most]
        if name not in [n for n, _ in best]:
            other, keys = best[0]
            raise ctx.fail(
                f"the state dict is one of torch's `{other}` (it has {', '.join(f'`{k}`' for k in keys)}), "
                f"not of a `{name}`; load it into a `{other}` built with the arguments of the saved one."
            )


def _load(s: AbstractScheduler, sd: Any, ctx: _Ctx) -> AbstractScheduler:
    if not isinstance(sd, Mapping):
        raise ctx.fail(f"a state dict is a dict, got {type(sd).__name__} {_show(sd)}.")
    extra = _read_extra(sd, ctx)
    _check_class(s, sd, extra, ctx)
    if extra is not None and "static" in extra:
        _check_config(extra["static"], static_config(s), ctx, prefix=f"{_KEY}.static.")
    entry = _TORCH.get(type(s))
    if entry is None:
        return _assign(s, _generic_load(s, sd, ctx))
    _check_config(sd, entry.config(s), ctx)
    if extra is not None and "config" in extra:
        _check_config(extra["config"], entry.hidden(s), ctx, prefix=f"{_KEY}.config.")
    return _assign(s, entry.load(s, sd, ctx, _is_ours(sd)))


def load_state_dict(scheduler: AbstractScheduler, state: Any) -> AbstractScheduler:
    """A copy of `scheduler` with the state of `state` (ours or torch's; see the module docstring)."""
    _check_concrete(scheduler, "load_state_dict")
    name = type(scheduler).__name__
    tol = 4 * float(np.finfo(np.dtype(scheduler.lr.dtype)).eps)
    return _load(scheduler, state, _Ctx(f"`{name}.load_state_dict`", name, tol))
