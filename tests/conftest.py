import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with `jax_enable_x64` on (float64 working dtype), restoring it afterwards."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture(params=["float32", "x64"])
def float_mode(request):
    """Run the test twice: in float32, and with `jax_enable_x64` on (through `x64`)."""
    if request.param == "x64":
        request.getfixturevalue("x64")
    return request.param
