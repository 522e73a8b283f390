"""Dtype policy and numerically careful formulas shared by the schedulers."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int


def float_dtype() -> jnp.dtype:
    """The working float dtype: float64 when `jax_enable_x64` is on, else float32."""
    return jnp.dtype(jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


INT_DTYPE = jnp.dtype(jnp.int32)
INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)


def as_float(x) -> Array:
    return jnp.asarray(x, dtype=float_dtype())


def as_int(x) -> Array:
    return jnp.asarray(x, dtype=INT_DTYPE)


def log_of(x) -> Array:
    """`log(x)` as a float leaf, computed in float64 on the host when `x` is concrete.

    Powers `gamma ** t` are evaluated as `exp(t * log(gamma))`. Rounding `gamma` to
    float32 first would put a relative error of about `t * 6e-8 / |log(gamma)|` into
    the result (1e-4 after 10,000 steps with `gamma=0.999`), so the logarithm is taken
    before the rounding whenever the value is known.
    """
    if isinstance(x, jax.core.Tracer):
        return jnp.log(as_float(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        return as_float(np.log(np.asarray(x, dtype=np.float64)))


def pow_via_log(log_base: Array, exponent: Array) -> Array:
    """`base ** exponent` for `exponent >= 0`, exact `1` at `exponent == 0`."""
    exponent = exponent.astype(log_base.dtype)
    return jnp.where(exponent == 0, 1.0, jnp.exp(exponent * log_base)).astype(log_base.dtype)


def floor_divmod(t: Int[Array, "*shape"], d: Int[Array, "*shape"]) -> tuple[Array, Array]:
    """`(t // d, t % d)` for `int32` arrays with `0 <= t < 2**31` and `1 <= d < 2**31`, exactly.

    x86 has no vectorised integer division, so XLA:CPU divides `int32` arrays one element
    at a time (about 5 ns each); this uses float division, which vectorises.

    With `x64` (float64) one division is exact: `fl(t / d)` can only round up to the next
    integer `n + 1` if `n + 1 - t/d`, which is at least `1/d`, is within half an ulp of it,
    `(t/d + 1) * 2**-53`; that would need `t + d >= 2**53`.

    In float32 (`u = 2**-24`) the steps are:

    1. `q0 = floor(fl(fl(t) / fl(d)))`, capped at `2**31 - 128` (the largest float32
        below `2**31`; only `d = 1` gets there) so that the conversion to `int32` does
        not overflow (XLA saturates it, but does not promise to). `fl(t) / fl(d)` is
        within `3.0000002 u t/d` of `t / d`, so the remainder `r1 = t - q0 d` lies in
        `[-384, d + 384]` (`d = 1`: `[-64, 127]`). Since `0 <= q0 d <= t + 384`, the
        product may wrap around in `int32`, but `r1` itself fits, and wrapping
        arithmetic gets it right.
    2. `q1 = q0 + floor(fl(fl(r1) / fl(d)))`. With `m = floor(r1 / d)`, `q = q0 + m` is the
        exact quotient. `q1 >= q`: for `m` in `{-1, 0, 1}` because rounding is monotonic
        and `fl(-d) = -fl(d)` (`r1 >= m d` gives `fl(r1) >= m fl(d)`); `|m| >= 2` needs
        `d <= 384`, where `fl(r1)` and `fl(d)` are exact and the division rounds
        monotonically past `m`. `q1 <= q + 1`: the computed ratio is within
        `3.0000002 u |r1 / d| < 1` of `r1 / d`.
    3. So `r2 = t - q1 d` is in `[-d, d)`, which fits in `int32` (`q1 d` may wrap), and
        one correction, `q = q1 - (r2 < 0)`, finishes.

    Outside these ranges the result is unspecified. `tests/test_numerics.py` checks every
    `t` around the multiples of small `d`, random values over the whole range, and the
    edges near `2**31`.
    """
    int_dtype = t.dtype
    if jax.config.read("jax_enable_x64"):
        q = jnp.floor(t.astype(jnp.float64) / d.astype(jnp.float64)).astype(int_dtype)
        return q, t - q * d
    f = jnp.float32
    df = d.astype(f)
    q = jnp.minimum(jnp.floor(t.astype(f) / df), _BELOW_2_31).astype(int_dtype)
    q = q + jnp.floor((t - q * d).astype(f) / df).astype(int_dtype)
    r = t - q * d
    negative = r < 0
    return q - negative.astype(int_dtype), jnp.where(negative, r + d, r)


_BELOW_2_31 = float(2**31 - 2**7)

# Taylor coefficients of `sin(pi y / 2) = sum_k c_k y**(2k + 1)`, correctly rounded to
# float64: `c_k = (-1)**k (pi/2)**(2k + 1) / (2k + 1)!`.
_SIN_HALF_PI = (
    1.5707963267948966,
    -0.6459640975062463,
    0.07969262624616705,
    -0.004681754135318688,
    0.00016044118478735983,
    -3.598843235212085e-06,
    5.692172921967927e-08,
    -6.688035109811468e-10,
    6.0669357311061955e-12,
)
# Terms used per dtype. For |y| <= 1/2 the series alternates with decreasing terms, so
# truncating it errs by less than the first omitted term: relative to `sin(pi y / 2)`,
# 2.5e-9 in float32 (ulp/2 is 6e-8) and 1.2e-19 in float64 (ulp/2 is 1.1e-16).
_SIN_TERMS = {jnp.dtype(jnp.float32): 5, jnp.dtype(jnp.float64): 9}


def sin_half_pi(y: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """`sin(pi * y / 2)` for `|y| <= 1/2` (angles up to `pi/4`), by a polynomial.

    XLA:CPU's `sin` and `cos` reduce arbitrary arguments and cost about ten times as
    much. Here the argument is already reduced, and evaluating `y * P(y**2)` with
    float32 (or float64) coefficients by Horner's rule is accurate to about an ulp. The
    factor `pi / 2` is folded into the coefficients, so it adds no rounding of its own.
    """
    coefficients = np.asarray(_SIN_HALF_PI[: _SIN_TERMS[y.dtype]], dtype=y.dtype)
    y2 = y * y
    p = coefficients[-1]
    for c in coefficients[-2::-1]:
        p = p * y2 + c
    return p * y


def half_cosine(num: Int[Array, "*shape"], den: Int[Array, "*shape"]) -> Float[Array, "*shape"]:
    """`(1 + cos(pi * num / den)) / 2` for integers `0 <= num < 2**31`, `1 <= den < 2**31`.

    `num` is reduced exactly (in integers) to `r` in `[0, den)` with
    `num = q den + r`; the value is `cos(pi r / 2den)**2` for even `q` and
    `sin(pi r / 2den)**2` for odd `q`. Each is computed from the sine of the smaller of
    the angles `pi r / 2den` and `pi (den - r) / 2den`, at most `pi/4`: with `s` that
    sine, `s**2 <= 1/2`, so `1 - s**2` has no cancellation. This avoids the cancellation
    in `1 + cos(x)` near `x = pi`: in float32 the naive formula loses about 1% of the
    value one step before the end of a 1,000-step cosine.
    """
    q, r = floor_divmod(num, den)
    rest = den - r
    s = sin_half_pi(jnp.minimum(r, rest).astype(float_dtype()) / den.astype(float_dtype()))
    s2 = s * s
    # A cosine squared, `1 - s**2`, when the smaller angle is `pi r / 2den` and `q` is even
    # or when it is `pi (den - r) / 2den` and `q` is odd (`sin(x) = cos(pi/2 - x)`).
    return jnp.where((r <= rest) == ((q & 1) == 0), 1 - s2, s2)


def half_cosine_pair(num: Int[Array, "*shape"], den: Int[Array, "*shape"]) -> tuple[Array, Array]:
    """`half_cosine(num, den)` and `1 - half_cosine(num, den)` for `0 <= num <= den`.

    `cos(pi x / 2)**2` and `sin(pi x / 2)**2` with `x = num / den`, each computed without
    cancellation (see `half_cosine`) from one polynomial, and without reducing `num`.
    """
    rest = den - num
    near = num <= rest
    s = sin_half_pi(jnp.where(near, num, rest).astype(float_dtype()) / den.astype(float_dtype()))
    s2 = s * s
    one_minus = 1 - s2
    return jnp.where(near, one_minus, s2), jnp.where(near, s2, one_minus)


def half_cosine_pct(pct_done: Float[Array, "*shape"], pct_left: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """`(1 + cos(pi * p)) / 2` given `p` and `1 - p` computed separately.

    The value is `1 - sin(pi p / 2)**2` when `p <= 1/2` and `sin(pi (1 - p) / 2)**2`
    otherwise, so it keeps its relative precision at both ends. The argument of the
    sine is reduced exactly (`y - 2 round(y / 2)`, then folded to `[0, 1/2]`), so any
    `p` works, as when `OneCycleLR` extrapolates its last phase one step past the end.
    """
    near_top = pct_done <= 0.5
    y = jnp.where(near_top, pct_done, pct_left)
    z = jnp.abs(y - 2 * jnp.round(y / 2))
    flip = z > 0.5
    s = sin_half_pi(jnp.where(flip, 1 - z, z))
    s2 = s * s
    return jnp.where(near_top != flip, 1 - s2, s2)
