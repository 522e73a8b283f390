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

import bisect
import collections
import dataclasses
import math
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._base import AbstractScheduler, replace
from ._fingerprint import fingerprint, static_config
from ._schedulers.chained import ChainedScheduler
from ._schedulers.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from ._schedulers.cyclic import CyclicLR
from ._schedulers.exponential import ExponentialLR, PolynomialLR
from ._schedulers.lambda_ import LambdaLR, MultiplicativeLR
from ._schedulers.onecycle import _THREE_PHASES, _TWO_PHASES, OneCycleLR
from ._schedulers.plateau import ReduceLROnPlateau
from ._schedulers.sequential import SequentialLR
from ._schedulers.sequential import _milestones as _sequential_milestones
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


def _num(x: Any) -> int | float:
    """A scalar leaf as torch keeps it: an `int` for an integer leaf, a `float` otherwise."""
    a = np.asarray(x)
    return int(a) if a.dtype.kind in "iu" else _float(a)


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


def _check_config(
    sd: Mapping, expected: Mapping[str, Any], ctx: _Ctx, prefix: str = "", normalized: Mapping | None = None
) -> None:
    """Every configuration value in `expected` (as torch writes it) must be the one in `sd`.

    `normalized`: the dict's configuration as this library stores it (a torch dict's fractional
    `step_size` as its whole period, say), compared in place of the raw value where given.
    """
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
        if normalized is not None and key in normalized and _same(_elements(normalized[key]), ours, ctx.tol):
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
    - `arguments(s)`: the constructor's arguments that build `s`'s configuration (torch's
        names; the lr instead of the optimizer).
    - `from_dict(sd, hidden)`: the arguments a dict states (`hidden`: our `config` entry, or
        `{}`); what it lacks (functions, settings torch keeps in the optimizer) is left out.
    """

    keys: tuple[str, ...]
    config: Callable[[Any], dict]
    load: Callable[[Any, Mapping, _Ctx, bool], dict]
    state: Callable[[Any, bool], dict] = lambda s, unstarted: {}
    hidden: Callable[[Any], dict] = lambda s: {}
    extra_state: Callable[[Any], dict] = lambda s: {}
    lrscheduler: bool = True
    arguments: Callable[[Any], dict] | None = None
    from_dict: Callable[[Mapping, Mapping], dict] | None = None

    def arguments_of(self, s: AbstractScheduler) -> dict:
        """`arguments(s)`; by default torch's configuration keys, with the lr for `base_lrs`."""
        if self.arguments is not None:
            return self.arguments(s)
        config = self.config(s)
        return {"lr": _lr(s), **{k: v for k, v in config.items() if k != "base_lrs"}}

    def from_dict_of(self, sd: Mapping, hidden: Mapping) -> dict:
        """`from_dict(sd, hidden)`; by default the dict's configuration keys, and `base_lrs` as the lr."""
        if self.from_dict is not None:
            return self.from_dict(sd, hidden)
        keys = [k for k in self.keys if k not in ("T_i", "T_cur")]  # (state, not configuration)
        return {**_dict_lrs(sd), **_taken(sd, {k: k for k in keys})}


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
    return {"total_iters": _num(s.total_iters), "power": _float(s.power), "base_lrs": _groups(s.base_lr)}


def _cosine_lr(s):
    """`CosineAnnealingLR`: `T_max`, `eta_min`, `base_lrs` (closed form standalone; chained, the lr
    it returns is the shared one, which its chained step reads rather than its own)."""
    return {"T_max": _num(s.T_max), "eta_min": _float(s.eta_min), "base_lrs": _groups(s.base_lr)}


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
    up, down = _num(s.step_size_up), _num(s.step_size_down)
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
    active = bisect.bisect_right(milestones, k)
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


# ---------------------------------------------------------------------------------------
# Constructor arguments: ours, and what a dict states (for `strict=False`, `from_torch`)


def _per_group(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values


def _lr(s: AbstractScheduler, name: str = "base_lr") -> float | list[float]:
    """A per-group leaf as a constructor takes it: a float for one param group, else a list."""
    value = getattr(s, name)
    return _groups(value)[0] if np.ndim(value) == 0 else _groups(value)


def _taken(sd: Mapping, keys: Mapping[str, str]) -> dict:
    """`{argument: sd[key]}` for the keys the dict has (`keys`: argument -> torch key)."""
    return {arg: sd[key] for arg, key in keys.items() if key in sd}


def _dict_lrs(sd: Mapping, key: str = "base_lrs") -> dict:
    value = sd.get(key)
    if isinstance(value, (list, tuple)) and value:
        return {"lr": _per_group(list(value))}
    return {}


def _lrs_only(sd: Mapping, hidden: Mapping) -> dict:
    """`from_dict` of `LambdaLR`/`MultiplicativeLR`: the lr (torch saves no functions)."""
    return _dict_lrs(sd)


def _functions(fns: tuple) -> Any:
    return fns[0] if all(fn is fns[0] for fn in fns) else list(fns)


def _lambda_arguments(s):
    return {"lr": _lr(s), "lr_lambda": _functions(s.lr_lambda)}


def _multistep_arguments(s):
    return {"lr": _lr(s), "milestones": np.asarray(s.milestones).tolist(), "gamma": _float(s.gamma)}


def _multistep_from_dict(sd, hidden):
    out = {**_dict_lrs(sd), **_taken(sd, {"gamma": "gamma"})}
    if "milestones" in sd:
        out["milestones"] = _elements(sd["milestones"])
    return out


def _cyclic_arguments(s):
    out = {
        "base_lr": _lr(s),
        "max_lr": _lr(s, "max_lr"),
        "step_size_up": _num(s.step_size_up),
        "step_size_down": _num(s.step_size_down),
        "mode": s.mode,
        "gamma": _float(s.gamma),
        "scale_fn": s.scale_fn,
        "scale_mode": s.scale_mode,
        "cycle_momentum": s.momentum is not None,
    }
    if s.momentum is not None:
        out.update(base_momentum=_lr(s, "base_momentum"), max_momentum=_lr(s, "max_momentum"))
    return out


def _whole(x: float) -> int | float:
    return int(round(x)) if abs(x - round(x)) <= 1e-9 * max(1.0, abs(x)) else x


def _cyclic_from_dict(sd, hidden):
    out = {
        **_dict_lrs(sd),
        **_taken(sd, {"max_lr": "max_lrs", "gamma": "gamma", "scale_mode": "scale_mode", "mode": "mode"}),
    }
    out = {"base_lr" if k == "lr" else k: v for k, v in out.items()}
    if isinstance(out.get("max_lr"), (list, tuple)):
        out["max_lr"] = _per_group(list(out["max_lr"]))
    total, ratio = sd.get("total_size"), sd.get("step_ratio")
    if _is_number(total) and _is_number(ratio):
        up = float(total) * float(ratio)
        out.update(step_size_up=_whole(up), step_size_down=_whole(float(total) - up))
    if isinstance(sd.get("cycle_momentum"), bool):
        out["cycle_momentum"] = sd["cycle_momentum"]
        for arg, key in (("base_momentum", "base_momentums"), ("max_momentum", "max_momentums")):
            if isinstance(sd.get(key), (list, tuple)) and sd[key]:
                out[arg] = _per_group(list(sd[key]))
    return out


def _onecycle_arguments(s):
    max_lr, initial, least = (np.asarray(x, np.float64).ravel()[0] for x in (s.max_lr, s.initial_lr, s.min_lr))
    first_end = float(np.asarray(s.phase_end_step)[0]) + float(np.asarray(s.phase_end_offset, np.float64)[0])
    out = {
        "max_lr": _lr(s, "max_lr"),
        "total_steps": int(s.total_steps),
        "pct_start": (first_end + 1) / int(s.total_steps),
        "anneal_strategy": s.anneal_strategy,
        "cycle_momentum": s.momentum is not None,
        "div_factor": float(max_lr / initial) if initial else 25.0,
        "final_div_factor": float(initial / least) if least else 1e4,
        "three_phase": s.three_phase,
    }
    if s.momentum is not None:
        out.update(base_momentum=_lr(s, "base_momentum"), max_momentum=_lr(s, "max_momentum"))
    return out


def _onecycle_from_dict(sd, hidden):
    out = _taken(sd, {"total_steps": "total_steps", "anneal_strategy": "_anneal_func_type"})
    phases = sd.get("_schedule_phases")
    if isinstance(phases, (list, tuple)) and phases and _is_int(sd.get("total_steps")):
        out["three_phase"] = len(phases) == 3
        end = phases[0].get("end_step") if isinstance(phases[0], Mapping) else None
        if _is_number(end):
            out["pct_start"] = (float(end) + 1) / int(sd["total_steps"])
    if isinstance(sd.get("cycle_momentum"), bool):
        out["cycle_momentum"] = sd["cycle_momentum"]
    for arg in ("max_lr", "base_momentum", "max_momentum"):
        if isinstance(hidden.get(arg), list) and hidden[arg]:
            out[arg] = _per_group(hidden[arg])
    maxima, initial, least = hidden.get("max_lr"), sd.get("base_lrs"), hidden.get("min_lr")
    if isinstance(maxima, list) and isinstance(initial, (list, tuple)) and initial and float(initial[0]):
        out["div_factor"] = float(maxima[0]) / float(initial[0])
        if isinstance(least, list) and least and float(least[0]):
            out["final_div_factor"] = float(initial[0]) / float(least[0])
    return out


def _plateau_arguments(s):
    return {
        "lr": _lr(s),
        "mode": s.mode,
        "factor": _float(s.factor),
        "patience": int(s.patience),
        "threshold": _float(s.threshold),
        "threshold_mode": s.threshold_mode,
        "cooldown": int(s.cooldown),
        "min_lr": _lr(s, "min_lr"),
        "eps": _float(s.eps),
    }


def _plateau_from_dict(sd, hidden):
    keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "eps")
    out = _taken(sd, {k: k for k in keys})
    if isinstance(sd.get("min_lrs"), (list, tuple)) and sd["min_lrs"]:
        out["min_lr"] = _per_group(list(sd["min_lrs"]))
    if isinstance(hidden.get("lr"), list) and hidden["lr"]:
        out["lr"] = _per_group(hidden["lr"])
    return out


def _swa_arguments(s):
    return {
        "lr": _lr(s),
        "swa_lr": _lr(s, "swa_lr"),
        "anneal_epochs": int(s.anneal_epochs),
        "anneal_strategy": s.anneal_strategy,
    }


def _swa_from_dict(sd, hidden):
    out = _taken(sd, {"anneal_epochs": "anneal_epochs", "anneal_strategy": "_anneal_strategy"})
    if isinstance(hidden.get("swa_lr"), list) and hidden["swa_lr"]:
        out["swa_lr"] = _per_group(hidden["swa_lr"])
    return out


def _sequential_arguments(s):
    return {"schedulers": list(s.schedulers), "milestones": np.asarray(s.milestones).tolist()}


def _sequential_from_dict(sd, hidden):
    return _taken(sd, {"milestones": "_milestones"})


def _chained_arguments(s):
    return {"schedulers": list(s.schedulers)}


def arguments(scheduler: AbstractScheduler) -> dict[str, Any]:
    """The arguments of `type(scheduler)`'s constructor that build its configuration (a torch class).

    Plain Python values, torch's names; the lr where torch takes the optimizer (`lr`, or none for
    `CyclicLR`/`OneCycleLR`, which take theirs), and children as schedulers.
    """
    entry = _TORCH.get(type(scheduler))
    if entry is None:
        raise TypeError(f"`{type(scheduler).__name__}` has no torch equivalent.")
    return entry.arguments_of(scheduler)


def _quietly(build: Callable[[], AbstractScheduler]) -> AbstractScheduler:
    """Build a scheduler whose arguments were warned about when the saved one was built."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return build()


def _rebuilt(s: AbstractScheduler, sd: Mapping, extra: Mapping | None, ctx: _Ctx, strict: bool) -> AbstractScheduler:
    """The scheduler with `s`'s class whose configuration is the dict's (`s`'s where the dict
    states none): torch's `load_state_dict`, which takes the configuration it is given."""
    entry = _TORCH[type(s)]
    kwargs = {**entry.arguments_of(s), **entry.from_dict_of(sd, (extra or {}).get("config", {}))}
    try:
        if "schedulers" in kwargs:
            # A composite: its children rebuilt from their dicts, its milestones from the dict. The
            # state is loaded next, so the children's current state does not matter.
            children = _read_children(sd, s, ctx)
            rebuilt = tuple(
                _rebuilt_child(c, c_sd, ctx.child(i, c, own_lr=False), strict)
                for i, (c, c_sd) in enumerate(zip(s.schedulers, children))
            )
            changes: dict[str, Any] = {"schedulers": rebuilt}
            if "milestones" in kwargs:
                milestones, ordered = _sequential_milestones(type(s).__name__, kwargs["milestones"], len(rebuilt))
                changes.update(milestones=milestones, ordered=ordered)
            new = replace(s, **changes)
            return replace(new, fingerprint=jnp.asarray(fingerprint(type(new), static_config(new)), jnp.int32))
        new = _quietly(lambda: type(s)(**kwargs))
    except (TypeError, ValueError, ArithmeticError) as e:
        raise ctx.fail(f"its configuration does not build a `{type(s).__name__}`: {e}") from None
    if extra is not None and "origin" in extra and hasattr(new, "origin"):
        new = replace(new, origin=None if extra["origin"] is None else jnp.asarray(extra["origin"], jnp.int32))
    return new


def _rebuilt_child(c: AbstractScheduler, sd: Any, ctx: _Ctx, strict: bool) -> AbstractScheduler:
    if strict or not isinstance(sd, Mapping) or type(c) not in _TORCH:
        return c
    extra = _read_extra(sd, ctx)
    _check_class(c, sd, extra, ctx)
    return _rebuilt(c, sd, extra, ctx, strict)


_TORCH: dict[type, _Torch] = {
    LambdaLR: _Torch(
        ("lr_lambdas",),
        _lambda_config,
        _lambda_load,
        _lambda_state,
        arguments=_lambda_arguments,
        from_dict=_lrs_only,
    ),
    MultiplicativeLR: _Torch(
        ("lr_lambdas",),
        _lambda_config,
        _multiplicative_load,
        _lambda_state,
        arguments=_lambda_arguments,
        from_dict=_lrs_only,
    ),
    StepLR: _Torch(
        ("step_size", "gamma"),
        _step_lr,
        _closed_form,
    ),
    MultiStepLR: _Torch(
        ("milestones", "gamma"),
        _multistep_lr,
        _closed_form,
        arguments=_multistep_arguments,
        from_dict=_multistep_from_dict,
    ),
    ConstantLR: _Torch(
        ("factor", "total_iters"),
        _constant_lr,
        _closed_form,
    ),
    LinearLR: _Torch(
        ("start_factor", "end_factor", "total_iters"),
        _linear_lr,
        _closed_form,
    ),
    ExponentialLR: _Torch(("gamma",), _exponential_lr, _closed_form),
    PolynomialLR: _Torch(
        ("total_iters", "power"),
        _polynomial_lr,
        _closed_form,
    ),
    CosineAnnealingLR: _Torch(
        ("T_max", "eta_min"),
        _cosine_lr,
        _closed_form,
    ),
    CosineAnnealingWarmRestarts: _Torch(
        ("T_0", "T_i", "T_mult", "eta_min", "T_cur"),
        _restarts_config,
        _restarts_load,
        _restarts_state,
    ),
    CyclicLR: _Torch(
        ("max_lrs", "total_size", "step_ratio", "gamma", "scale_mode", "cycle_momentum"),
        _cyclic_config,
        _cyclic_load,
        _cyclic_state,
        extra_state=_momentum,
        arguments=_cyclic_arguments,
        from_dict=_cyclic_from_dict,
    ),
    OneCycleLR: _Torch(
        ("total_steps", "_schedule_phases", "_anneal_func_type", "cycle_momentum"),
        _onecycle_config,
        _onecycle_load,
        hidden=_onecycle_hidden,
        extra_state=_momentum,
        arguments=_onecycle_arguments,
        from_dict=_onecycle_from_dict,
    ),
    ReduceLROnPlateau: _Torch(
        ("factor", "min_lrs", "patience", "cooldown", "eps", "mode", "threshold", "threshold_mode", "best"),
        _plateau_config,
        _plateau_load,
        _plateau_state,
        hidden=lambda s: {"lr": _groups(s.base_lr)},
        lrscheduler=False,
        arguments=_plateau_arguments,
        from_dict=_plateau_from_dict,
    ),
    SWALR: _Torch(
        ("anneal_epochs", "_anneal_strategy"),
        _swa_config,
        _swa_load,
        lambda s, unstarted: {"base_lrs": _groups(s.base_lr)},
        hidden=lambda s: {"swa_lr": _groups(s.swa_lr)},
        arguments=_swa_arguments,
        from_dict=_swa_from_dict,
    ),
    SequentialLR: _Torch(
        ("_milestones", "_schedulers"),
        _sequential_config,
        _sequential_load,
        _sequential_state,
        lrscheduler=False,
        arguments=_sequential_arguments,
        from_dict=_sequential_from_dict,
    ),
    ChainedScheduler: _Torch(
        ("_schedulers",),
        _chained_config,
        _chained_load,
        _chained_state,
        lrscheduler=False,
        arguments=_chained_arguments,
        from_dict=lambda sd, hidden: {},
    ),
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


def _generic_load(s: AbstractScheduler, sd: Mapping, ctx: _Ctx, strict: bool = True) -> dict[str, Any]:
    """The fields of a scheduler without a torch equivalent from its own dict. `strict=False` takes
    its numeric configuration from the dict too (same shapes); static settings must agree."""
    extra = sd[_KEY]
    if "static" in extra:
        _check_config(extra["static"], static_config(s), ctx, prefix=f"{_KEY}.static.")
    config = _generic_config(s)
    if strict:
        _check_config(sd, config, ctx)
    fields: dict[str, Any] = {
        "last_epoch": _read_last_epoch(sd, ctx),
        "lr": _read_numbers(sd, "_last_lr", ctx, _n_groups(s)),
    }
    names = [n for n in type(s)._state_fields if n not in ("last_epoch", "lr")]
    for name in names + ([] if strict else list(config)):
        if name == "schedulers":
            children = _read_children(sd, s, ctx)
            fields[name] = [
                _load(c, c_sd, ctx.child(i, c, own_lr=False), strict)
                for i, (c, c_sd) in enumerate(zip(s.schedulers, children))
            ]
        else:
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
    if getattr(s, "origin", None) is not None:
        extra["origin"] = int(s.origin)  # a scheduler built with `last_epoch=k`
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


def _load(s: AbstractScheduler, sd: Any, ctx: _Ctx, strict: bool = True) -> AbstractScheduler:
    if not isinstance(sd, Mapping):
        raise ctx.fail(f"a state dict is a dict, got {type(sd).__name__} {_show(sd)}.")
    extra = _read_extra(sd, ctx)
    _check_class(s, sd, extra, ctx)
    entry = _TORCH.get(type(s))
    if entry is None:
        return _assign(s, _generic_load(s, sd, ctx, strict))
    if not strict:
        s = _rebuilt(s, sd, extra, ctx, strict)
    elif extra is not None and "static" in extra:
        _check_config(extra["static"], static_config(s), ctx, prefix=f"{_KEY}.static.")
    normalized = None
    if extra is None and "schedulers" not in type(s)._state_fields:
        # A torch dict states the configuration as torch was given it (a fractional `step_size`,
        # `total_iters=0`); compare what that configuration builds here.
        try:
            normalized = entry.config(_rebuilt(s, sd, None, ctx, True))
        except ValueError:
            normalized = None
    _check_config(sd, entry.config(s), ctx, normalized=normalized)
    if extra is not None and "config" in extra:
        _check_config(extra["config"], entry.hidden(s), ctx, prefix=f"{_KEY}.config.")
    if extra is not None and hasattr(s, "origin"):
        theirs, ours = extra.get("origin"), None if s.origin is None else int(s.origin)
        if theirs != ours:
            raise ctx.fail(
                f"`{_KEY}.origin` is {theirs!r} in the state dict but {ours!r} in this scheduler: one of them was "
                "built with `last_epoch=k` (resumed after epoch k) and the other not, or with another k; "
                f"{_SAME_ARGUMENTS}, or pass `strict=False`."
            )
    return _assign(s, entry.load(s, sd, ctx, _is_ours(sd)))


def load_state_dict(scheduler: AbstractScheduler, state: Any, strict: bool = True) -> AbstractScheduler:
    """A copy of `scheduler` with the state of `state` (ours or torch's; see the module docstring).

    `strict=True`: the configuration in `state` must be `scheduler`'s. `strict=False`: it is taken
    from `state`, as torch's `load_state_dict` does, and `scheduler` gives what `state` lacks.
    """
    _check_concrete(scheduler, "load_state_dict")
    if not isinstance(strict, bool):
        raise TypeError(f"`load_state_dict(strict=...)` must be True or False, got {strict!r}.")
    name = type(scheduler).__name__
    tol = 4 * float(np.finfo(np.dtype(scheduler.lr.dtype)).eps)
    return _load(scheduler, state, _Ctx(f"`{name}.load_state_dict`", name, tol), strict)
