"""statefulsched with optax: the bridge into optax optimizers, and optax's schedule catalogue.

- `set_hyperparams`: write a scheduler stepped outside the optimizer into its state.
- every scheduler is an optax stateful schedule (`inject_hyperparams(...)(learning_rate=sched)`);
  `stateful_schedule` adds momentum, param groups and metric averaging.
- `scale_by_scheduler`: a gradient transformation scaling the updates by the lr.
- `to_schedule`: a metric-free scheduler as a plain `count -> lr` schedule function.
"""

from ._optax._common import ScheduleState as ScheduleState
from ._optax.hyperparams import set_hyperparams as set_hyperparams
from ._optax.scale import scale_by_scheduler as scale_by_scheduler
from ._optax.stateful import StatefulScheduler as StatefulScheduler
from ._optax.stateful import stateful_schedule as stateful_schedule
from ._optax.to_schedule import to_schedule as to_schedule
