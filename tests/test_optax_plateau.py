"""`optax.contrib.reduce_on_plateau` against `ss.ReduceLROnPlateau` driven through the optax bridge.

The mapping (optax's parameters on the left):

    reduce_on_plateau(factor, patience, rtol, atol=0, cooldown, accumulation_size, min_scale)
    == scale_by_scheduler(ReduceLROnPlateau(1.0, "min", factor, patience - 1, threshold=rtol,
                                            threshold_mode="rel", cooldown, min_lr=min_scale, eps=0.0),
                          accumulation_size=accumulation_size)

(`threshold=atol, threshold_mode="abs"` when `rtol == 0`). optax reduces once `patience`
averaged values in a row fail to improve, torch once more than `patience` do. The scales
agree after every update; the update itself is scaled one update later than optax does it:
optax steps first and scales with the new scale, `scale_by_scheduler` scales and then steps.

Where the mapping does not hold (checked at the end of the file): optax's `patience=0`,
`rtol` and `atol` both non-zero, and `min_scale > 1`; in float32, an `rtol` for which
`float32(1 - rtol) != 1 - float32(rtol)`.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import lax

import statefulsched as ss

W = np.array([1.0, -3.0, 0.7, 1e-3])  # the "updates" every transform scales
LR0 = 0.25  # a power of two, so `LR0 * scale` is exact and can be compared with `==`

EXAMPLES = int(os.environ.get("SS_HYPOTHESIS_EXAMPLES", "20"))


def mapped_plateau(lr, *, factor, patience, rtol, atol, cooldown, min_scale):
    """The `ss.ReduceLROnPlateau` that behaves like `reduce_on_plateau(...)`, scaled by `lr`."""
    if rtol and atol:
        raise ValueError("optax's combined test `avg < (1 - rtol) * best - atol` has no torch equivalent")
    if patience < 1:
        raise ValueError("optax's patience=0 (a reduction on every improvement) has no torch equivalent")
    return ss.ReduceLROnPlateau(
        lr,
        mode="min",
        factor=factor,
        patience=patience - 1,
        threshold=atol if atol else rtol,
        threshold_mode="abs" if atol else "rel",
        cooldown=cooldown,
        min_lr=lr * min_scale,
        eps=0.0,
    )


@functools.cache
def _runner(config: tuple, x64: bool):
    """A jitted function: metric sequence -> per-update results of the three transforms.

    Cached per configuration (the optax transform closes over its hyperparameters, so each
    configuration compiles once; `jax.jit` then caches per sequence length).
    """
    kwargs = dict(config)
    accumulation_size = kwargs.pop("accumulation_size")
    reference = optax.contrib.reduce_on_plateau(accumulation_size=accumulation_size, **kwargs)
    ours = ss.optax.scale_by_scheduler(mapped_plateau(1.0, **kwargs), accumulation_size=accumulation_size)
    inside = optax.inject_hyperparams(optax.sgd)(
        learning_rate=ss.optax.stateful_schedule(mapped_plateau(LR0, **kwargs), accumulation_size=accumulation_size)
    )
    params = jnp.asarray(W, jnp.float64 if x64 else jnp.float32)

    @jax.jit
    def run(values):
        def one_update(states, value):
            ref_state, our_state, inside_state = states
            ref_updates, ref_state = reference.update(params, ref_state, value=value)
            our_updates, our_state = ours.update(params, our_state, value=value)
            inside_updates, inside_state = inside.update(params, inside_state, params, value=value)
            out = dict(
                scale=ref_state.scale,
                ref_updates=ref_updates,
                lr=our_state.scheduler.lr,
                updates=our_updates,
                inside_lr=inside_state.hyperparams["learning_rate"],
                inside_updates=inside_updates,
            )
            return (ref_state, our_state, inside_state), out

        init = (reference.init(params), ours.init(params), inside.init(params))
        return lax.scan(one_update, init, values)[1]

    return run


def check_agreement(config: dict, values, x64: bool) -> np.ndarray:
    """Run the three transforms on `values`; assert they agree; return optax's scales."""
    dtype = np.float64 if x64 else np.float32
    out = jax.device_get(_runner(tuple(sorted(config.items())), x64)(jnp.asarray(values, dtype)))
    scale = out["scale"]
    assert scale.dtype == dtype and out["lr"].dtype == dtype
    # After every update, our scheduler's lr is optax's scale.
    np.testing.assert_array_equal(out["lr"], scale, err_msg=f"{config}")
    # optax scales update k by its scale after update k; ours by the scale after update k - 1.
    previous = np.concatenate([np.ones(1, dtype), scale[:-1]])
    w = W.astype(dtype)
    np.testing.assert_array_equal(out["ref_updates"], scale[:, None] * w)
    np.testing.assert_array_equal(out["updates"], previous[:, None] * w, err_msg=f"{config}")
    # Inside `inject_hyperparams`: update k uses LR0 times optax's scale after update k - 1.
    np.testing.assert_array_equal(out["inside_lr"], LR0 * previous, err_msg=f"{config}")
    np.testing.assert_array_equal(out["inside_updates"], -(LR0 * previous)[:, None] * w)
    return scale


# ---------------------------------------------------------------- hypothesis strategies


def floats(lo, hi):
    return st.floats(lo, hi, allow_subnormal=False)


@st.composite
def configs(draw):
    if draw(st.booleans()):
        rtol, atol = draw(st.one_of(st.sampled_from([1e-4, 0.01, 0.1, 0.25, 1.0]), floats(1e-6, 1.0))), 0.0
    else:
        rtol, atol = 0.0, draw(st.one_of(st.sampled_from([1e-3, 0.125, 0.25, 0.5]), floats(1e-6, 2.0)))
    return dict(
        # >= 0.05: 200 reductions stay above float64's smallest normal number, so `LR0 * scale` is exact.
        factor=draw(st.one_of(st.sampled_from([0.1, 0.5, 0.9]), floats(0.05, 0.99))),
        patience=draw(st.integers(1, 6)),
        rtol=rtol,
        atol=atol,
        cooldown=draw(st.integers(0, 4)),
        min_scale=draw(st.one_of(st.sampled_from([0.0, 0.01, 0.25, 1.0]), floats(1e-6, 1.0))),
        accumulation_size=draw(st.integers(1, 5)),
    )


SPECIALS = [np.nan, np.nan, np.inf, np.inf, -np.inf]


@st.composite
def metric_sequences(draw):
    """30-200 values on a coarse grid: a drifting-down random walk or i.i.d. grid values,
    so ties, plateaus and values exactly at the improvement threshold are common, with a
    few NaNs and infinities."""
    n = draw(st.integers(30, 200))
    unit = draw(st.sampled_from([0.125, 0.1, 1.0, 0.01]))
    if draw(st.booleans()):
        moves = draw(st.lists(st.sampled_from([-2, -1, -1, 0, 0, 0, 0, 1, 2]), min_size=n, max_size=n))
        values = (draw(st.integers(0, 60)) + np.cumsum(moves)) * unit
    else:
        values = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))) * unit
    for i, special in draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(SPECIALS)), max_size=4)):
        values[i] = special
    return values


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=configs(), values=metric_sequences())
def test_matches_optax_reduce_on_plateau_x64(x64, config, values):
    check_agreement(config, values, x64=True)


# ---------------------------------------------------------------- hand-picked cases


def notebook_like_losses(n=600, seed=0):
    """A noisy training loss that decreases and then plateaus, in float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    loss = 0.25 + 2.0 * np.exp(-t / 60.0) + 0.05 * rng.standard_normal(n) * (1 + np.exp(-t / 60.0))
    return loss.astype(np.float32)


# The notebook's settings (patience 5, factor 0.5, rtol 1e-4), with a shorter accumulation.
NOTEBOOK = dict(factor=0.5, patience=5, rtol=1e-4, atol=0.0, cooldown=0, min_scale=0.0, accumulation_size=10)


@pytest.mark.parametrize(
    "config",
    [
        NOTEBOOK,
        dict(NOTEBOOK, cooldown=2, min_scale=2.0**-4, accumulation_size=3, patience=2),
        # (min_scale keeps the scale out of float32's subnormal range, which XLA flushes to zero.)
        dict(NOTEBOOK, factor=0.1, rtol=0.0, atol=0.01, accumulation_size=1, patience=3, cooldown=1, min_scale=1e-3),
    ],
    ids=["notebook", "cooldown-min_scale", "atol"],
)
def test_matches_optax_on_a_notebook_like_loss_float32(config):
    scale = check_agreement(config, notebook_like_losses(), x64=False)
    reductions = np.count_nonzero(np.diff(scale) < 0)
    assert reductions >= 2, scale  # the case is not trivial
    assert scale[-1] >= config["min_scale"]


def test_edge_sequences_x64(x64):
    # One configuration and one length, so a single compilation serves every sequence.
    config = dict(factor=0.5, patience=2, rtol=0.25, atol=0.0, cooldown=1, min_scale=0.0, accumulation_size=1)
    nan, inf = np.nan, np.inf
    sequences = [
        [inf, inf, inf, 1.0, 1.0, 1.0, 1.0, 1.0],  # infinite first values are not improvements
        [nan, nan, nan, 1.0, 1.0, 1.0, 1.0, 1.0],  # nor are NaNs
        [-inf, 0.0, -1e300, -inf, 1.0, 1.0, 1.0, 1.0],  # nothing improves on -inf
        [1.0, 0.75, 0.5625, 0.5625, 0.421875, 0.42, 0.3, 0.3],  # exactly at (1 - rtol) * best: no improvement
        [-1.0, -1.25, -1.3, -1.5625, -2.0, -2.0, -2.0, -2.0],  # negative values
        [0.0, 0.0, -0.0, 0.0, 1e-300, -1e-300, 0.0, 0.0],  # zeros
    ]
    scales = [check_agreement(config, np.array(s), x64=True) for s in sequences]
    assert scales[0][2] == 0.5 and scales[1][2] == 0.5  # two bad values, then a reduction
    assert scales[2][-1] < 0.5


# ---------------------------------------------------------------- where the mapping does not hold


def _optax_scales(values, dtype=jnp.float32, **kwargs):
    transform = optax.contrib.reduce_on_plateau(**kwargs)
    params = jnp.zeros((), dtype)
    update = jax.jit(lambda state, value: transform.update(params, state, value=value)[1])
    state, scales = transform.init(params), []
    for value in values:
        state = update(state, jnp.asarray(value, dtype))
        scales.append(float(state.scale))
    return scales


def _our_scales(values, **kwargs):
    sched, lrs = ss.ReduceLROnPlateau(1.0, **kwargs), []
    for value in values:
        sched = sched.step(value)
        lrs.append(float(sched.lr))
    return lrs


def test_optax_patience_zero_reduces_on_improvements():
    # optax reduces when the plateau count *equals* `patience`; with 0 that is after every
    # improvement (the count is reset to 0) and never on a plateau. No torch patience does that.
    values = [3.0, 2.0, 2.0, 2.0, 1.0, 1.0]
    assert _optax_scales(values, factor=0.5, patience=0) == [0.5, 0.25, 0.25, 0.25, 0.125, 0.125]
    # torch's patience=0 reduces on every value that is not an improvement instead.
    assert _our_scales(values, factor=0.5, patience=0, eps=0.0) == [1.0, 1.0, 0.5, 0.25, 0.25, 0.125]


def test_optax_rtol_and_atol_together_have_no_torch_equivalent():
    # optax: improvement iff avg < (1 - rtol) * best - atol = 0.8 here; torch tests one or the other (0.9).
    values = [1.0, 0.85, 0.85, 0.85]
    assert _optax_scales(values, factor=0.5, patience=2, rtol=0.1, atol=0.1) == [1.0, 1.0, 0.5, 0.5]
    for mode in ("rel", "abs"):
        lrs = _our_scales(values, factor=0.5, patience=1, threshold=0.1, threshold_mode=mode, eps=0.0)
        assert lrs == [1.0, 1.0, 1.0, 0.5], mode


def test_optax_min_scale_above_one_raises_the_scale():
    # optax clamps with `max(scale, min_scale)` on every step outside a cooldown, even
    # without a reduction, so the scale jumps from 1 to `min_scale`; torch's lr never rises.
    assert _optax_scales([1.0, 1.0, 1.0], factor=0.5, patience=5, min_scale=2.0) == [2.0, 2.0, 2.0]
    assert _our_scales([1.0, 1.0, 1.0], factor=0.5, patience=4, min_lr=2.0, eps=0.0) == [1.0, 1.0, 1.0]


def test_float32_relative_threshold_rounds_like_optax():
    # Both round `1 - rtol`, computed in float64 (torch's Python floats), to float32 once.
    # Computing `1 - float32(rtol)` in float32 instead differs by one ulp for about one rtol
    # in six (0.6 among them), and a value lying exactly on the threshold would then be
    # judged differently.
    rtol = 0.6
    assert np.float32(1 - rtol) != np.float32(1) - np.float32(rtol)
    value = np.float32(1 - rtol)  # best = 1.0, so the threshold is the factor itself
    kwargs = dict(factor=0.5, cooldown=0)
    optax_scales = _optax_scales([1.0, value, value], patience=2, rtol=rtol, **kwargs)
    our_scales = _our_scales([1.0, value, value], patience=1, threshold=rtol, eps=0.0, **kwargs)
    assert optax_scales == our_scales == [1.0, 1.0, 0.5]
