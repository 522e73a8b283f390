"""Run `examples/digits.py` in quick mode and check what it reports."""

import math

import numpy as np
import pytest
from helpers import load_example

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")


@pytest.fixture(scope="module")
def quick_run():
    """Both runs of the demo in quick mode (3 epochs each, tiny MLP), run once for all tests."""
    return load_example("digits").main(["--quick"])


def test_quick_run_finishes(quick_run):
    assert set(quick_run) == {"onecycle", "plateau"}
    for name, run in quick_run.items():
        assert len(run["history"]) == 3, name
        for key in ("val_acc", "best_val_acc", "val_loss"):
            assert math.isfinite(run[key]), (name, key)
        for record in run["history"]:
            for key in ("lr", "train_loss", "val_loss", "val_acc"):
                assert math.isfinite(record[key]), (name, record)
        # 10 classes, so chance is 0.1. Quick mode gets 0.92-0.93 (onecycle) and
        # 0.85-0.89 (plateau) for seeds 0-4.
        assert run["val_acc"] > 0.7, (name, run["val_acc"])


def test_onecycle_lr_rises_then_falls(quick_run):
    run = quick_run["onecycle"]
    lrs = np.array(run["lr_per_batch"])
    momenta = np.array(run["momentum_per_batch"])
    n = len(lrs)
    assert n == 3 * (1437 // 64)  # one scheduler step per train step
    peak = int(np.argmax(lrs))
    # Peak at pct_start=0.3 of the cycle (torch puts it at step 0.3 * total - 1).
    assert abs(peak - (0.3 * n - 1)) <= 1, (peak, n)
    np.testing.assert_allclose(lrs[peak], 0.2, rtol=1e-3)  # max_lr (up to where step 19 falls)
    np.testing.assert_allclose(lrs[0], 0.2 / 25, rtol=1e-5)  # max_lr / div_factor
    assert np.all(np.diff(lrs[: peak + 1]) > 0)
    assert np.all(np.diff(lrs[peak:]) < 0)
    assert lrs[-1] < 1e-3 * lrs[peak]
    # Momentum is cycled the other way, between max_momentum and base_momentum, and
    # really reaches the optimizer.
    assert momenta.shape == lrs.shape
    assert int(np.argmin(momenta)) == peak
    np.testing.assert_allclose([momenta[0], momenta[peak]], [0.95, 0.85], rtol=1e-5)
    # The per-epoch lr printed is the lr of each epoch's last update.
    assert run["lr_per_epoch"] == [lrs[(e + 1) * n // 3 - 1] for e in range(3)]


def test_plateau_lr_non_increasing(quick_run):
    run = quick_run["plateau"]
    lrs = run["lr_per_epoch"]
    assert lrs[0] == pytest.approx(3e-3)
    assert all(b <= a for a, b in zip(lrs, lrs[1:])), lrs
    # Within an epoch the lr is constant: it only changes between epochs.
    per_batch = np.array(run["lr_per_batch"]).reshape(3, -1)
    assert np.all(per_batch == per_batch[:, :1])


def test_train_steps_compile_once(quick_run):
    # The OneCycleLR scheduler goes in and out of the jitted train step on every batch;
    # it must keep its pytree structure and dtypes so the step is compiled only once.
    assert quick_run["onecycle"]["compilations"] == 1
    assert quick_run["plateau"]["compilations"] == 1
