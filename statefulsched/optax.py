"""statefulsched with optax: the bridge into optax optimizers, and optax's schedule catalogue.

- `set_hyperparams`: write a scheduler stepped outside the optimizer into its state.
- every scheduler is an optax stateful schedule (`inject_hyperparams(...)(learning_rate=sched)`);
  `stateful_schedule` adds momentum, param groups and metric averaging.
- `scale_by_scheduler`: a gradient transformation scaling the updates by the lr.
- `to_schedule`: a metric-free scheduler as a plain `count -> lr` schedule function.
- optax's schedule catalogue as schedulers: `WarmupCosineDecaySchedule` for
  `optax.warmup_cosine_decay_schedule`, and so on, equal to the optax function at every count.
"""

from ._optax._common import ScheduleState as ScheduleState
from ._optax.hyperparams import set_hyperparams as set_hyperparams
from ._optax.scale import scale_by_scheduler as scale_by_scheduler
from ._optax.stateful import StatefulScheduler as StatefulScheduler
from ._optax.stateful import stateful_schedule as stateful_schedule
from ._optax.to_schedule import to_schedule as to_schedule
from ._schedulers.optax_basic import ConstantSchedule as ConstantSchedule
from ._schedulers.optax_basic import ExponentialDecay as ExponentialDecay
from ._schedulers.optax_basic import LinearSchedule as LinearSchedule
from ._schedulers.optax_basic import PolynomialSchedule as PolynomialSchedule
from ._schedulers.optax_basic import WarmupConstantSchedule as WarmupConstantSchedule
from ._schedulers.optax_basic import WarmupExponentialDecaySchedule as WarmupExponentialDecaySchedule
from ._schedulers.optax_cosine import CosineDecaySchedule as CosineDecaySchedule
from ._schedulers.optax_cosine import SGDRSchedule as SGDRSchedule
from ._schedulers.optax_cosine import WarmupCosineDecaySchedule as WarmupCosineDecaySchedule
from ._schedulers.optax_join import JoinSchedules as JoinSchedules
from ._schedulers.optax_onecycle import CosineOnecycleSchedule as CosineOnecycleSchedule
from ._schedulers.optax_onecycle import LinearOnecycleSchedule as LinearOnecycleSchedule
from ._schedulers.optax_piecewise import PiecewiseConstantSchedule as PiecewiseConstantSchedule
from ._schedulers.optax_piecewise import PiecewiseInterpolateSchedule as PiecewiseInterpolateSchedule
