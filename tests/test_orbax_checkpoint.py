"""Run `examples/orbax_checkpoint.py` in quick mode: an orbax checkpoint of a whole train state resumes exactly.

The example trains, checkpoints every epoch with an orbax `CheckpointManager`, restores an
earlier epoch into new objects (a new manager, a restore target built from scratch) and
continues. Checked here: the resumed run ends bit for bit where the uninterrupted one does
(params, optimizer state, scheduler leaves, the lr/momentum/scale used at every step); the
restored leaves have their dtypes, are not weakly typed and sit where the fresh ones do;
the jitted train step is traced and compiled once across the restore; and a restore into a
template with another static configuration is refused by `ss.verify`.
"""

import dataclasses
import logging

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_example

import statefulsched as ss

pytest.importorskip("orbax.checkpoint")


class _CompileCounter(logging.Handler):
    """Counts the XLA compilations of `jit(train_step)` that `jax.log_compiles` reports."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Finished XLA compilation of jit(train_step)" in record.getMessage():
            self.count += 1


@pytest.fixture(scope="module")
def example():
    # A fresh module: its own jitted train step and trace counter.
    return load_example("orbax_checkpoint")


@pytest.fixture(scope="module")
def quick_run(example, tmp_path_factory):
    counter = _CompileCounter()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles(True):
            result = example.main(["--quick", "--dir", str(tmp_path_factory.mktemp("orbax"))])
    finally:
        logger.removeHandler(counter)
    result["train_step_compiles"] = counter.count
    return result


def _arrays(tree) -> list:
    return jax.tree.leaves(eqx.filter(tree, eqx.is_array))


def _assert_bitwise_equal(got, want, what: str) -> None:
    got_leaves = jax.tree_util.tree_flatten_with_path(eqx.filter(got, eqx.is_array))[0]
    want_leaves = jax.tree_util.tree_flatten_with_path(eqx.filter(want, eqx.is_array))[0]
    assert len(got_leaves) == len(want_leaves) > 0, what
    for (path, a), (_, b) in zip(got_leaves, want_leaves):
        name = f"{what}{jax.tree_util.keystr(path)}"
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"{name}: {a} != {b}"


def test_quick_run_saved_and_resumed(quick_run):
    config = quick_run["config"]
    steps = config.epochs * config.steps_per_epoch
    assert quick_run["saved_steps"] == list(range(config.steps_per_epoch, steps + 1, config.steps_per_epoch))
    assert 0 < quick_run["resume_step"] < steps
    assert int(quick_run["restored"].step) == quick_run["resume_step"]
    assert int(quick_run["resumed"].step) == int(quick_run["final"].step) == steps
    assert quick_run["same_leaves"] and quick_run["same_lrs"]
    assert quick_run["seconds"] < 60


def test_schedules_move_on_both_sides_of_the_resume(quick_run):
    """Only then would a wrongly restored scheduler show in the lrs."""
    used, k = quick_run["used"], quick_run["resume_step"]
    lr, b1, scale = used[:, 0], used[:, 1], used[:, 2]
    assert len(set(lr[:k].tolist())) > 1 and len(set(lr[k:].tolist())) > 1
    assert len(set(b1[k:].tolist())) > 1  # OneCycleLR cycles AdamW's b1
    assert scale[0] == 1.0 and scale[k - 1] < 1.0 and scale[-1] < scale[k]  # cut before and after the resume


def test_resumed_run_is_bit_for_bit_the_uninterrupted_one(quick_run):
    final, resumed = quick_run["final"], quick_run["resumed"]
    for part in ("model", "opt_state", "sched", "plateau", "step", "key"):
        _assert_bitwise_equal(getattr(resumed, part), getattr(final, part), part)
    used, k = quick_run["used"], quick_run["resume_step"]
    assert used.dtype == quick_run["resumed_used"].dtype == np.float32
    assert used[k:].tobytes() == quick_run["resumed_used"].tobytes()


def test_restored_leaves_keep_dtype_strong_type_and_placement(example, quick_run):
    fresh = example.init_state(quick_run["config"])
    restored = quick_run["restored"]
    paths = jax.tree_util.tree_flatten_with_path(eqx.filter(fresh, eqx.is_array))[0]
    for (path, a), b in zip(paths, _arrays(restored), strict=True):
        name = jax.tree_util.keystr(path)
        assert (b.dtype, b.shape) == (a.dtype, a.shape), name
        assert not a.weak_type and not b.weak_type, name
        assert a.committed and b.committed and a.sharding == b.sharding, name
    for sched in (restored.sched, restored.plateau):
        for leaf in _arrays(sched):
            assert leaf.dtype in (np.float32, np.int32) and not leaf.weak_type


def test_train_step_traced_and_compiled_once_across_the_restore(quick_run):
    assert quick_run["train_step_traces"] == 1
    assert quick_run["train_step_compiles"] == 1


def test_uncommitted_fresh_state_would_compile_twice(example, quick_run):
    """Why the example places the fresh state: jnp's uncommitted arrays and orbax's committed ones compile apart."""
    config = quick_run["config"]
    data = example.make_data(config.seed)
    fresh = example.init_state(config)
    # The same values, as `jnp` makes arrays: uncommitted.
    uncommitted = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)) if eqx.is_array(x) else x, fresh)
    assert not _arrays(uncommitted)[0].committed
    counter = _CompileCounter()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles(True):
            example.train_step(uncommitted, *data[0])
    finally:
        logger.removeHandler(counter)
    assert counter.count == 1  # a second compilation of the same trace...
    assert example.traces["train_step"] == 1  # ...which a trace counter does not see


def test_restore_into_another_static_configuration_is_refused(example, quick_run, tmp_path):
    assert quick_run["pitfall"].startswith("`statefulsched.verify`: the `ReduceLROnPlateau` at `.plateau`: ")
    assert "static configuration" in quick_run["pitfall"]
    # OneCycleLR restored with the template's anneal strategy: the example's `restore` refuses it
    # (it calls `ss.verify`), and so does an eager step of what orbax alone returns.
    config = quick_run["config"]
    state = example.init_state(config)
    other = ss.OneCycleLR(
        example.MAX_LR, total_steps=config.epochs * config.steps_per_epoch, pct_start=0.25, anneal_strategy="linear"
    )
    with example.checkpoint_manager(tmp_path / "ckpt") as manager:
        example.save(manager, state)
        manager.wait_until_finished()
        like = dataclasses.replace(example.abstract_state(config), sched=other)
        with pytest.raises(ValueError, match=r"`OneCycleLR` at `.sched`: .*static configuration"):
            example.restore(manager, like)
        arrays, static = eqx.partition(like, lambda x: eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct))
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=example.SHARDING), arrays)
        restored = eqx.combine(
            manager.restore(manager.latest_step(), args=example.ocp.args.StandardRestore(abstract)), static
        )
    assert restored.sched.anneal_strategy == "linear"
    with pytest.raises(ValueError, match="static configuration"):
        restored.sched.step()
    with pytest.raises(eqx.EquinoxRuntimeError, match="static configuration"):
        jax.block_until_ready(eqx.filter_jit(lambda state: ss.verify(state).sched.step().lr)(restored))
