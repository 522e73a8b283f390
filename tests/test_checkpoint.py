"""Exact resume: `eqx.tree_serialise_leaves` round trips, the static-configuration fingerprint,
and `ss.save` / `ss.load` with their checks.
"""

import collections
import io
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compiled import CASES, _metrics, _uses_metric

import statefulsched as ss

SETTINGS = settings(max_examples=int(os.environ.get("SS_HYPOTHESIS_EXAMPLES", "20")), deadline=None, derandomize=True)


def _run(sched, metrics, uses_metric):
    states = [sched]
    for m in metrics:
        sched = sched.step(m) if uses_metric else sched.step()
        states.append(sched)
    return states


def _assert_identical(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        assert x.dtype == y.dtype and x.shape == y.shape and not y.weak_type
        np.testing.assert_array_equal(x, y)


def _serialised(tree) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    return buffer.getvalue()


@pytest.mark.parametrize("x64_mode", [False, True], ids=["float32", "x64"])
@SETTINGS
@given(data=st.data())
def test_resume_at_any_step_continues_bit_for_bit(request, x64_mode, data):
    # A run saved at step k and restored into a freshly built scheduler of the same
    # configuration continues exactly as the uninterrupted run, leaf for leaf.
    if x64_mode:
        request.getfixturevalue("x64")
    case = data.draw(st.sampled_from(CASES), label="case")
    k = data.draw(st.integers(0, case.steps - 1), label="k")
    metrics = [float(m) for m in _metrics(case)]
    uses_metric = _uses_metric(case.build())
    reference = _run(case.build(), metrics, uses_metric)
    restored = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(reference[k])), case.build())
    _assert_identical(restored, reference[k])
    resumed = _run(restored, metrics[k:], uses_metric)
    for a, b in zip(resumed, reference[k:]):
        _assert_identical(a, b)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_save_load_round_trip_in_a_train_state(case, tmp_path):
    metrics = [float(m) for m in _metrics(case)]
    uses_metric = _uses_metric(case.build())
    reference = _run(case.build(), metrics, uses_metric)
    k = len(metrics) // 2
    params = {"w": jnp.arange(3.0)}
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    ss.save(tmp_path / "ckpt", {"params": params, "opt_state": opt.init(params), "sched": reference[k]})
    like = {"params": jax.tree.map(jnp.zeros_like, params), "opt_state": opt.init(params), "sched": case.build()}
    loaded = ss.load(tmp_path / "ckpt", like)
    np.testing.assert_array_equal(loaded["params"]["w"], params["w"])
    _assert_identical(loaded["sched"], reference[k])
    for a, b in zip(_run(loaded["sched"], metrics[k:], uses_metric), reference[k:]):
        _assert_identical(a, b)


def test_first_step_after_a_resume_does_not_recompile(tmp_path):
    sched = ss.ReduceLROnPlateau(0.1, patience=1)
    traces = collections.Counter()

    @jax.jit
    def train_step(sched, loss):
        traces["n"] += 1
        return sched.step(loss)

    for loss in [3.0, 2.0, 2.0]:
        sched = train_step(sched, loss)
    ss.save(tmp_path / "ckpt", sched)
    restored = ss.load(tmp_path / "ckpt", ss.ReduceLROnPlateau(0.1, patience=1))
    raw = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(sched)), ss.ReduceLROnPlateau(0.1, patience=1))
    for resumed in (restored, raw):
        for loss in [2.0, 2.0, 1.0]:
            resumed = train_step(resumed, loss)
    assert traces["n"] == 1


# --- the fingerprint of the static configuration ---------------------------------------------

# Pairs built with the same arrays (shapes and leaves) but different static configuration.
STATIC_MISMATCHES = {
    "ReduceLROnPlateau-mode": (
        lambda: ss.ReduceLROnPlateau(0.1, mode="max"),
        lambda: ss.ReduceLROnPlateau(0.1, mode="min"),
    ),
    "ReduceLROnPlateau-threshold_mode": (
        lambda: ss.ReduceLROnPlateau(0.1, threshold_mode="abs"),
        lambda: ss.ReduceLROnPlateau(0.1, threshold_mode="rel"),
    ),
    "OneCycleLR-anneal_strategy": (
        lambda: ss.OneCycleLR(0.1, total_steps=20, anneal_strategy="linear"),
        lambda: ss.OneCycleLR(0.1, total_steps=20, anneal_strategy="cos"),
    ),
    "CyclicLR-mode": (
        lambda: ss.CyclicLR(0.01, 0.1, step_size_up=3, mode="triangular2"),
        lambda: ss.CyclicLR(0.01, 0.1, step_size_up=3, mode="triangular"),
    ),
    "SWALR-anneal_strategy": (
        lambda: ss.SWALR(0.1, swa_lr=0.01, anneal_strategy="linear"),
        lambda: ss.SWALR(0.1, swa_lr=0.01, anneal_strategy="cos"),
    ),
    "LambdaLR-function": (lambda: ss.LambdaLR(0.1, jnp.sqrt), lambda: ss.LambdaLR(0.1, jnp.exp)),
    "SequentialLR-child": (
        lambda: ss.SequentialLR([ss.ConstantLR(0.1), ss.ReduceLROnPlateau(0.1, mode="max")], [3]),
        lambda: ss.SequentialLR([ss.ConstantLR(0.1), ss.ReduceLROnPlateau(0.1, mode="min")], [3]),
    ),
}


@pytest.mark.parametrize("name", STATIC_MISMATCHES)
def test_restoring_into_another_static_configuration_raises_on_step_and_verify(name, tmp_path):
    saved_build, other_build = STATIC_MISMATCHES[name]
    saved = saved_build().step(1.0)
    restored = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(saved)), other_build())
    assert jax.tree.structure(restored) == jax.tree.structure(other_build())  # eqx accepts it silently
    message = r"static configuration .* is not the one its state was saved with"
    with pytest.raises(ValueError, match=message):
        restored.step(1.0)
    # `verify` names where the scheduler sits in the tree, and which child of a composite.
    where = r"`statefulsched.verify`: the `\w+` at `\['train'\]\['sched'\]`"
    with pytest.raises(ValueError, match=where + r".*: the scheduler's static configuration"):
        ss.verify({"params": jnp.zeros(2), "train": {"sched": restored}})
    # Traced, `verify` compiles its check into the program where it is called; the outputs
    # carry it, so the check survives when only part of the state is used.
    for part in ("lr", "last_epoch"):
        with pytest.raises((ValueError, RuntimeError), match=message):
            jax.jit(lambda s: getattr(ss.verify(s).step(1.0), part))(restored).block_until_ready()
    with pytest.raises((ValueError, RuntimeError), match=message):
        scan = jax.jit(lambda s: jax.lax.scan(lambda s, m: (s.step(m), s.lr), ss.verify(s), jnp.ones(3))[1])
        scan(restored).block_until_ready()
    # The same file into the right template works, and `ss.load` names the difference.
    right = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(saved)), saved_build())
    assert ss.verify(right) is right
    right.step(1.0)
    jax.jit(lambda s: ss.verify(s).step(1.0).lr)(right).block_until_ready()
    ss.save(tmp_path / "ckpt", saved)
    with pytest.raises(ValueError, match=r"in the checkpoint but .* in the template"):
        ss.load(tmp_path / "ckpt", other_build())


def test_a_traced_step_does_not_check_the_fingerprint():
    """The check costs a host callback per step, so traced code checks only where `verify` is called."""
    saved_build, other_build = STATIC_MISMATCHES["ReduceLROnPlateau-mode"]
    restored = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(saved_build())), other_build())
    jax.jit(lambda s: s.step(1.0).lr)(restored).block_until_ready()  # runs, in the template's mode
    with pytest.raises(ValueError, match=r"static configuration"):
        restored.step(1.0)  # while the eager step refuses


def test_fingerprint_is_a_strong_int32_leaf_fixed_across_steps():
    for case in CASES:
        sched = case.build()
        assert sched.fingerprint.dtype == jnp.int32 and not sched.fingerprint.weak_type
        later = sched.step(1.0)
        assert later.fingerprint is sched.fingerprint
    assert ss.StepLR(0.1, 3).fingerprint == ss.StepLR(0.5, 7, gamma=0.3).fingerprint  # numbers are leaves
    assert ss.StepLR(0.1, 3).fingerprint != ss.ExponentialLR(0.1, 0.5).fingerprint


def test_verify_checks_every_member_of_a_vmapped_batch():
    saved = jax.vmap(lambda p: ss.ReduceLROnPlateau(0.1, mode="max", patience=p))(jnp.arange(3))
    template = jax.vmap(lambda p: ss.ReduceLROnPlateau(0.1, patience=p))(jnp.arange(3))
    restored = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(saved)), template)
    with pytest.raises(ValueError, match=r"static configuration"):
        ss.verify(restored)
    with pytest.raises((ValueError, RuntimeError), match=r"static configuration"):
        jax.jit(lambda s: jax.vmap(lambda s: s.step(1.0))(ss.verify(s)).lr)(restored).block_until_ready()
    right = eqx.tree_deserialise_leaves(io.BytesIO(_serialised(saved)), jax.tree.map(lambda x: x, saved))
    assert ss.verify(right) is right


def test_verify_passes_trees_without_schedulers_and_fresh_schedulers():
    tree = {"w": jnp.ones(3), "n": 3, "s": None}
    assert ss.verify(tree) is tree
    for case in CASES:
        sched = case.build()
        assert ss.verify([sched])[0] is sched
        jax.jit(lambda s: ss.verify(s).lr)(sched).block_until_ready()


# --- ss.save / ss.load: what does not match ----------------------------------------------------


def _state(sched):
    params = {"w": jnp.arange(3.0), "b": jnp.zeros(2)}
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
    return {"params": params, "opt_state": opt.init(params), "sched": sched}


@pytest.mark.parametrize(
    "other, message",
    [
        (lambda: ss.StepLR(0.1, step_size=3), r"holds a `CosineAnnealingLR` at `\['sched'\]`, the template a `StepLR`"),
        (lambda: ss.CosineAnnealingLR(0.1, T_max=11), r"`CosineAnnealingLR\(T_max=...\)` .* is 10 in the checkpoint"),
        (lambda: ss.CosineAnnealingLR([0.1, 0.1], T_max=10), r"has 1 param group\(s\) in the checkpoint, 2 in the"),
        (lambda: ss.CosineAnnealingLR(0.2, T_max=10), r"`CosineAnnealingLR\(base_lr=...\)` .* is 0.1\d* in the"),
    ],
)  # fmt: skip
def test_load_names_the_mismatch(tmp_path, other, message):
    ss.save(tmp_path / "ckpt", _state(ss.CosineAnnealingLR(0.1, T_max=10).step()))
    with pytest.raises(ValueError, match=message):
        ss.load(tmp_path / "ckpt", _state(other()))


def test_load_names_a_leaf_mismatch(tmp_path):
    ss.save(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))
    like = _state(ss.StepLR(0.1, 3))
    like["params"]["w"] = jnp.zeros(4)
    with pytest.raises(
        ValueError, match=r"leaf `\['params'\]\['w'\]` \(float32\[3\]\) does not match .* \(float32\[4\]\)"
    ):
        ss.load(tmp_path / "ckpt", like)
    with pytest.raises(ValueError, match=r"scheduler at `\['other'\]` and the checkpoint none"):
        ss.load(tmp_path / "ckpt", {**_state(ss.StepLR(0.1, 3)), "other": ss.StepLR(0.1, 3)})


@pytest.mark.parametrize("cut", [0, 10, 30, 100, -200, -1])
def test_truncated_checkpoint_raises(tmp_path, cut):
    ss.save(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))
    content = (tmp_path / "ckpt").read_bytes()
    (tmp_path / "ckpt").write_bytes(content[:cut])
    with pytest.raises(ValueError, match=r"truncated|corrupted|not a statefulsched checkpoint"):
        ss.load(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))


@pytest.mark.parametrize("offset", [40, 200, -30, -1])
def test_corrupted_checkpoint_raises(tmp_path, offset):
    ss.save(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))
    content = bytearray((tmp_path / "ckpt").read_bytes())
    content[offset] ^= 0x01
    (tmp_path / "ckpt").write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"corrupted|truncated"):
        ss.load(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))


def test_other_files_are_refused(tmp_path):
    eqx.tree_serialise_leaves(tmp_path / "raw.eqx", ss.StepLR(0.1, 3))
    with pytest.raises(ValueError, match=r"not a statefulsched checkpoint"):
        ss.load(tmp_path / "raw.eqx", ss.StepLR(0.1, 3))


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    ss.save(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))
    ss.save(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3).step()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert ss.load(tmp_path / "ckpt", _state(ss.StepLR(0.1, 3)))["sched"].last_epoch == 1
