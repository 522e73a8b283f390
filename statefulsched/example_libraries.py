"""The schedules of `jax.example_libraries.optimizers` as statefulsched schedulers.

Same names (in CamelCase), arguments and numbers as the jax functions; `make_schedule`
turns a number or any `count -> lr` function into a scheduler.
"""

from ._schedulers.example_libraries import Constant as Constant
from ._schedulers.example_libraries import ExponentialDecay as ExponentialDecay
from ._schedulers.example_libraries import InverseTimeDecay as InverseTimeDecay
from ._schedulers.example_libraries import PiecewiseConstant as PiecewiseConstant
from ._schedulers.example_libraries import PolynomialDecay as PolynomialDecay
from ._schedulers.example_libraries import make_schedule as make_schedule
