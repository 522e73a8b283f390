"""What the benchmark scripts record about the machine and the library versions they ran on."""

import os
import platform

import equinox as eqx
import jax
import jaxlib
import torch


def machine_info(**extra) -> dict:
    """Platform, CPU count, versions and load average at the start, plus `extra`."""
    try:
        load = os.getloadavg()
    except OSError:  # not on every platform
        load = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "jax_backend": jax.default_backend(),
        "jax_x64": bool(jax.config.jax_enable_x64),
        "equinox": eqx.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        **extra,
        "loadavg_at_start": load,
    }
