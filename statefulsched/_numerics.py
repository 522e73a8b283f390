"""Dtype policy and numerically careful formulas shared by the schedulers."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


def float_dtype() -> jnp.dtype:
    """The working float dtype: float64 when `jax_enable_x64` is on, else float32."""
    return jnp.dtype(jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


INT_DTYPE = jnp.dtype(jnp.int32)


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


def half_cosine(num: Array, den: Array) -> Array:
    """`(1 + cos(pi * num / den)) / 2` for integer-valued `num >= 0`, `den > 0`.

    Written as `cos(pi r / 2den) ** 2` or `sin(pi (den - r) / 2den) ** 2` after folding
    `num` into one half period `r`, which avoids the cancellation in `1 + cos(x)` near
    `x = pi`: in float32 the naive formula loses about 1% of the value one step before
    the end of a 1,000-step cosine.
    """
    dtype = float_dtype()
    num = num.astype(dtype)
    den = den.astype(dtype)
    period = 2 * den
    r = num - period * jnp.floor(num / period)
    r = jnp.where(r > den, period - r, r)
    near_top = 2 * r <= den
    head = jnp.cos(jnp.pi * r / period) ** 2
    tail = jnp.sin(jnp.pi * (den - r) / period) ** 2
    return jnp.where(near_top, head, tail)


def half_cosine_pct(pct_done: Array, pct_left: Array) -> Array:
    """`(1 + cos(pi * p)) / 2` given `p` and `1 - p` computed separately."""
    near_top = pct_done <= 0.5
    head = jnp.cos(0.5 * jnp.pi * pct_done) ** 2
    tail = jnp.sin(0.5 * jnp.pi * pct_left) ** 2
    return jnp.where(near_top, head, tail)
