"""The numerical helpers behind the closed forms: exact integer division, and the polynomial
sine and half cosines that replace XLA's `sin`/`cos` (see `statefulsched/_numerics.py`).

References are computed with Python integers and `decimal` (40 digits), so they hold in
float64 as well as in float32. Every check runs in both float modes (`float_mode`).
"""

import decimal
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statefulsched._numerics import (
    float_dtype,
    floor_divmod,
    half_cosine,
    half_cosine_pair,
    half_cosine_pct,
    sin_half_pi,
)

INT32_MAX = 2**31 - 1
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def _sin(x: decimal.Decimal) -> decimal.Decimal:
    """`sin(x)` for `|x| <= pi/2` by its Taylor series, to 40 digits."""
    with decimal.localcontext(prec=40):
        term, total, k = x, x, 1
        while abs(term) > decimal.Decimal(10) ** -45:
            term = -term * x * x / ((2 * k) * (2 * k + 1))
            total += term
            k += 1
        return total


def _sin_half_pi(y) -> decimal.Decimal:
    """`sin(pi y / 2)` for `|y| <= 1` given as an exact float or `Fraction`-like pair."""
    with decimal.localcontext(prec=40):
        return _sin(_PI * decimal.Decimal(y) / 2)


def _half_cosine(num: int, den: int) -> float:
    """`(1 + cos(pi num / den)) / 2` from the exact reduction of `num`, as a float64."""
    q, r = divmod(num, den)
    with decimal.localcontext(prec=40):
        # cos(pi r / 2den)**2 for even q, sin(pi r / 2den)**2 for odd q.
        if q % 2 == 0:
            value = _sin(_PI * (den - r) / (2 * den)) ** 2
        else:
            value = _sin(_PI * r / (2 * den)) ** 2
        return float(value)


def _ulps(ours: np.ndarray, reference: list[float]) -> np.ndarray:
    """Error of `ours` in units of the last place of each reference value in `ours`' dtype."""
    ref = np.asarray(reference, dtype=np.float64)
    spacing = np.spacing(np.abs(ref).astype(ours.dtype)).astype(np.float64)
    return np.abs(ours.astype(np.float64) - ref) / spacing


def _divmod(t, d) -> tuple[np.ndarray, np.ndarray]:
    t = jnp.asarray(np.asarray(t, dtype=np.int64), dtype=jnp.int32)
    d = jnp.asarray(np.asarray(d, dtype=np.int64), dtype=jnp.int32)
    q, r = jax.jit(floor_divmod)(t, d)
    assert q.dtype == r.dtype == jnp.int32
    return np.asarray(q, dtype=np.int64), np.asarray(r, dtype=np.int64)


def _assert_divmod(t, d):
    t, d = np.asarray(t, dtype=np.int64), np.asarray(d, dtype=np.int64)
    assert np.all((0 <= t) & (t <= INT32_MAX) & (1 <= d) & (d <= INT32_MAX))
    q, r = _divmod(t, d)
    bad = (q != t // d) | (r != t % d)
    assert not np.any(bad), list(zip(t[bad][:5], d[bad][:5], q[bad][:5], r[bad][:5]))


# --- floor_divmod -------------------------------------------------------------------------


def test_floor_divmod_exhaustive_for_small_operands(float_mode):
    t, d = np.meshgrid(np.arange(0, 2**14), np.arange(1, 65))
    _assert_divmod(t.ravel(), d.ravel())


def test_floor_divmod_around_every_multiple_of_small_divisors(float_mode):
    # For each `d <= 512`, `t` one either side of (and at) multiples `k d` with quotients
    # spread over the whole range, up to the largest multiple below `2**31`.
    ts, ds = [], []
    for d in range(1, 513):
        top = INT32_MAX // d
        ks = np.unique(
            np.concatenate([np.arange(0, 40), np.geomspace(40, top, 200).astype(np.int64), top - np.arange(0, 40)])
        )
        ks = ks[(ks >= 0) & (ks <= top)]
        t = (ks[:, None] * d + np.arange(-2, 3)[None, :]).ravel()
        t = t[(t >= 0) & (t <= INT32_MAX)]
        ts.append(t)
        ds.append(np.full(t.shape, d))
    _assert_divmod(np.concatenate(ts), np.concatenate(ds))


def test_floor_divmod_near_the_top_of_int32(float_mode):
    # `q * d` exceeds int32 on the way to the result; `fl(t)` rounds up to `2**31` for `d = 1`.
    t = INT32_MAX - np.arange(0, 300)
    divisors = np.concatenate(
        [np.arange(1, 40), 2**30 + np.arange(-3, 4), INT32_MAX - np.arange(0, 200), [2**24 - 1, 2**24, 2**24 + 1]]
    )
    tt, dd = np.meshgrid(t, divisors)
    _assert_divmod(tt.ravel(), dd.ravel())
    # `t` just below, at and above `d` and `2d` for large `d` (quotients 0, 1, 2).
    d = INT32_MAX - np.arange(0, 2**20, 997)
    d = np.concatenate([d, 2**30 + np.arange(-(2**18), 2**18, 331)])
    for k in (0, 1, 2):
        for j in (-2, -1, 0, 1, 2):
            t = k * d + j
            keep = (t >= 0) & (t <= INT32_MAX)
            _assert_divmod(t[keep], d[keep])


def test_floor_divmod_random_over_the_whole_range(float_mode):
    rng = np.random.default_rng(0)
    n = 1_000_000
    t = rng.integers(0, 2**31, n)
    # Divisors log-uniform over [1, 2**31), so every size of quotient is well covered.
    d = np.minimum(np.exp(rng.uniform(0, math.log(2**31), n)).astype(np.int64), INT32_MAX)
    _assert_divmod(t, np.maximum(d, 1))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, INT32_MAX), st.integers(1, INT32_MAX)),
        min_size=64,
        max_size=64,
    )
)
def test_floor_divmod_hypothesis(pairs):
    # One fixed batch shape, so the function compiles once per float mode.
    for x64 in (False, True):
        previous = jax.config.read("jax_enable_x64")
        jax.config.update("jax_enable_x64", x64)
        try:
            _assert_divmod([t for t, _ in pairs], [d for _, d in pairs])
        finally:
            jax.config.update("jax_enable_x64", previous)


# --- the polynomial sine and the half cosines ----------------------------------------------

# Compiled, XLA contracts `a * b + c` into fused multiply-adds; op by op (as constructors
# run eagerly) it does not. Both must be accurate.
HOW = pytest.mark.parametrize("how", [jax.jit, lambda f: f], ids=["jit", "eager"])


@HOW
def test_sin_half_pi_within_two_ulps(float_mode, how):
    dtype = float_dtype()
    rng = np.random.default_rng(1)
    y = np.concatenate([np.linspace(0, 0.5, 2001), rng.uniform(0, 0.5, 2000), [1e-30, 1e-8, 0.4999999]])
    y = np.concatenate([y, -y]).astype(dtype)
    ours = np.asarray(how(sin_half_pi)(jnp.asarray(y)))
    assert ours.dtype == dtype
    reference = [float(_sin_half_pi(float(v))) for v in y]
    assert np.max(_ulps(ours, reference)) <= 2.0
    assert ours[0] == 0.0


def _half_cosine_cases() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    sweeps = [(np.arange(0, 4001), 1000), (np.arange(0, 12_001), 12_000), (np.arange(0, 40), 7), (np.arange(0, 5), 1)]
    num = [n for n, _ in sweeps] + [rng.integers(0, 2**31, 3000), INT32_MAX - np.arange(0, 50)]
    den = [np.full(n.shape, d) for n, d in sweeps] + [
        np.exp(rng.uniform(0, math.log(2**31), 3000)).astype(np.int64),
        np.concatenate([np.arange(1, 26), INT32_MAX - np.arange(0, 25)]),
    ]
    return np.concatenate(num), np.maximum(np.concatenate(den), 1)


@HOW
def test_half_cosine_matches_the_exact_value(float_mode, how):
    num, den = _half_cosine_cases()
    ours = np.asarray(how(half_cosine)(jnp.asarray(num, jnp.int32), jnp.asarray(den, jnp.int32)))
    assert ours.dtype == float_dtype()
    reference = np.asarray([_half_cosine(int(n), int(d)) for n, d in zip(num, den)])
    # Exact zeros (odd multiples of `den`) and ones (even multiples) come out exactly.
    zero, one = (num % (2 * den)) == den, (num % (2 * den)) == 0
    assert np.all(ours[zero] == 0.0) and np.all(ours[one] == 1.0)
    # Relative to each value, however small: what the half-angle forms are for (the naive
    # `(1 + cos(x)) / 2` loses every digit near `x = pi`).
    assert np.max(_ulps(ours[~zero], reference[~zero])) <= 6.0


@HOW
def test_half_cosine_pair(float_mode, how):
    den = np.concatenate([np.full(1001, 1000), np.full(8, 7), [1, 1, 2, 2, 2]])
    num = np.concatenate([np.arange(0, 1001), np.arange(0, 8), [0, 1, 0, 1, 2]])
    num_, den_ = jnp.asarray(num, jnp.int32), jnp.asarray(den, jnp.int32)
    cos2, sin2 = (np.asarray(v) for v in how(half_cosine_pair)(num_, den_))
    ref_cos2 = np.asarray([_half_cosine(int(n), int(d)) for n, d in zip(num, den)])
    ref_sin2 = np.asarray([_half_cosine(int(d - n), int(d)) for n, d in zip(num, den)])
    assert np.all(cos2[num == den] == 0.0) and np.all(sin2[num == 0] == 0.0)
    assert np.all(cos2[num == 0] == 1.0) and np.all(sin2[num == den] == 1.0)
    assert np.max(_ulps(cos2[num != den], ref_cos2[num != den])) <= 6.0
    assert np.max(_ulps(sin2[num != 0], ref_sin2[num != 0])) <= 6.0
    # The same computation as `half_cosine` where both apply, so the same bits.
    np.testing.assert_array_equal(cos2, np.asarray(how(half_cosine)(num_, den_)))


@HOW
def test_half_cosine_pct(float_mode, how):
    dtype = float_dtype()
    n = 997
    k = np.arange(0, n + 1)
    # `p` and `1 - p` each rounded from exact fractions, as `OneCycleLR` computes them;
    # then extrapolations past the end (`p > 1`, `1 - p < 0`, down to `-3.5`).
    past = np.array([0.001, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.5])
    done = np.concatenate([k / n, 1 + past]).astype(dtype)
    left = np.concatenate([(n - k) / n, -past]).astype(dtype)
    ours = np.asarray(how(half_cosine_pct)(jnp.asarray(done), jnp.asarray(left)))
    assert ours.dtype == dtype
    reference = []
    for p, q in zip(done.tolist(), left.tolist()):
        # `cos(pi p / 2)**2` from `p` near the top, `sin(pi q / 2)**2` from `q` elsewhere:
        # the exact value for the inputs as given.
        if p <= 0.5:
            reference.append(float(_sin_half_pi(1 - decimal.Decimal(p)) ** 2))
        else:
            x = abs(decimal.Decimal(q) % 2)  # `sin(pi x / 2)**2` is even, of period 2
            reference.append(float(_sin_half_pi(min(x, 2 - x)) ** 2))
    reference = np.asarray(reference)
    zero = reference == 0.0
    assert np.all(ours[zero] == 0.0) and ours[0] == 1.0
    assert np.max(_ulps(ours[~zero], reference[~zero])) <= 6.0
