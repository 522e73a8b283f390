"""PyTorch's learning-rate schedulers as immutable Equinox modules."""

from . import example_libraries as example_libraries
from . import optax as optax
from ._base import AbstractMultiplicativeScheduler as AbstractMultiplicativeScheduler
from ._base import AbstractOverridingScheduler as AbstractOverridingScheduler
from ._base import AbstractScheduler as AbstractScheduler
from ._checkpoint import load as load
from ._checkpoint import save as save
from ._partition import combine as combine
from ._partition import partition as partition
from ._schedulers.chained import ChainedScheduler as ChainedScheduler
from ._schedulers.cosine import CosineAnnealingLR as CosineAnnealingLR
from ._schedulers.cosine import CosineAnnealingWarmRestarts as CosineAnnealingWarmRestarts
from ._schedulers.cyclic import CyclicLR as CyclicLR
from ._schedulers.exponential import ExponentialLR as ExponentialLR
from ._schedulers.exponential import PolynomialLR as PolynomialLR
from ._schedulers.function import FunctionScheduler as FunctionScheduler
from ._schedulers.lambda_ import LambdaLR as LambdaLR
from ._schedulers.lambda_ import MultiplicativeLR as MultiplicativeLR
from ._schedulers.onecycle import OneCycleLR as OneCycleLR
from ._schedulers.plateau import ReduceLROnPlateau as ReduceLROnPlateau
from ._schedulers.sequential import SequentialLR as SequentialLR
from ._schedulers.step import MultiStepLR as MultiStepLR
from ._schedulers.step import StepLR as StepLR
from ._schedulers.swa import SWALR as SWALR
from ._schedulers.warmup import ConstantLR as ConstantLR
from ._schedulers.warmup import LinearLR as LinearLR
from ._torch import from_torch as from_torch
from ._torch import to_torch as to_torch
from ._verify import verify as verify

__version__ = "0.1.0"
