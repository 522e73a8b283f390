"""Crash recovery for real: kill `tests/crash_train.py` with SIGKILL, restart it, compare with an uninterrupted run.

The script checkpoints its whole train state with `ss.save` and resumes from it with
`ss.load`; see its docstring for its log and stdout protocol. Here:

- an uninterrupted run is the reference;
- another run is killed at three steps drawn from a seeded RNG (the test reads the
  script's `step i` markers and sends SIGKILL once it reads one at or past the drawn
  step, so the process is wherever it got to by then: in the middle of a step, of a log
  write or of a checkpoint), restarted each time, then left to finish: its final train
  state must equal the reference's bit for bit, its log (lr, scale and loss per step) too,
  and every restart must have resumed from the last checkpoint written;
- a run is killed inside `ss.save`, between writing the temporary file and renaming it
  over the checkpoint (through the script's `CRASH_TRAIN_PAUSE_BEFORE_REPLACE` hook): the
  checkpoint must still be the previous one and load, the stray temporary file must be
  ignored, and the run must still end like the reference;
- checkpoint files cut short or with a flipped byte must make `ss.load` raise `ValueError`.

Each subprocess pays for importing JAX and compiling its functions; they share a
persistent compilation cache (filled by the reference run) to keep the file under a
minute on two cores.
"""

import importlib.util
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import statefulsched as ss

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

SCRIPT = pathlib.Path(__file__).resolve().parent / "crash_train.py"
STEPS, EVERY = 80, 4
SEED = 20240611  # draws the kill steps
TIMEOUT = 120  # seconds for one subprocess, a safety net against hangs


def _load_script():
    spec = importlib.util.spec_from_file_location("statefulsched_crash_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Run:
    """One run of the script in `directory`, optionally killed when `kill_when(line)` holds for a stdout line."""

    def __init__(self, directory: pathlib.Path, env: dict[str, str], kill_when=None, extra_env=None):
        self.directory = directory
        args = ["--steps", str(STEPS), "--every", str(EVERY)]
        args += ["--ckpt", str(directory / "state.ckpt"), "--log", str(directory / "lr.log")]
        args += ["--final", str(directory / "final.npz")]
        stderr_path = directory / "stderr.txt"
        with open(stderr_path, "a") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**env, **(extra_env or {})},
            )
        watchdog = threading.Timer(TIMEOUT, proc.kill)
        watchdog.start()
        self.lines: list[str] = []
        self.killed_at: str | None = None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                self.lines.append(line)
                if kill_when is not None and kill_when(line):
                    proc.send_signal(signal.SIGKILL)
                    self.killed_at = line
                    break
            proc.stdout.close()
            self.returncode = proc.wait()
        finally:
            watchdog.cancel()
        self.stderr = stderr_path.read_text()

    def check(self, killed: bool) -> None:
        where = f"stdout {self.lines[-5:]}, stderr:\n{self.stderr[-3000:]}"
        if killed:
            assert self.killed_at is not None, f"the run ended before the kill point: {where}"
            assert self.returncode == -signal.SIGKILL, (self.returncode, where)
        else:
            assert self.returncode == 0, (self.returncode, where)
            assert self.lines[-1] == "done", where

    @property
    def resumed_from(self) -> int | None:
        """The step the run resumed from; `None` for a fresh start."""
        first = self.lines[0]
        if first == "fresh start":
            return None
        assert first.startswith("resumed from step "), first
        return int(first.rsplit(" ", 1)[1])

    @property
    def last_saved(self) -> int | None:
        saved = [int(line.rsplit(" ", 1)[1]) for line in self.lines if line.startswith("saved step ")]
        return saved[-1] if saved else None


def _at_or_past(step: int):
    return lambda line: line.startswith("step ") and int(line.split()[1]) >= step


def _read_log(path: pathlib.Path) -> dict[int, tuple[float, float, float]]:
    """step -> (lr, scale, loss), checking that every step from 0 has exactly one line."""
    rows = [line.split() for line in path.read_text().splitlines()]
    steps = [int(row[0]) for row in rows]
    assert steps == list(range(len(rows))), f"{path}: steps out of order or repeated: {steps}"
    return {int(row[0]): tuple(float.fromhex(value) for value in row[1:]) for row in rows}


def _assert_same_final(path: pathlib.Path, reference: pathlib.Path) -> None:
    with np.load(path) as got, np.load(reference) as want:
        assert sorted(got.files) == sorted(want.files)
        for name in want.files:
            a, b = got[name], want[name]
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.tobytes() == b.tobytes(), f"{name}: {a} != {b}"


def _assert_same_run(directory: pathlib.Path, reference: pathlib.Path) -> None:
    _assert_same_final(directory / "final.npz", reference / "final.npz")
    got, want = _read_log(directory / "lr.log"), _read_log(reference / "lr.log")
    assert len(got) == len(want) == STEPS
    for step in range(STEPS):
        assert got[step] == want[step], f"step {step}: (lr, scale, loss) {got[step]} != {want[step]}"
    assert (directory / "lr.log").read_bytes() == (reference / "lr.log").read_bytes()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("jax_cache")
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env) -> pathlib.Path:
    """An uninterrupted run (it also fills the compilation cache)."""
    directory = tmp_path_factory.mktemp("reference")
    run = Run(directory, env)
    run.check(killed=False)
    assert run.resumed_from is None
    return directory


@pytest.fixture(scope="module")
def script():
    return _load_script()


def test_reference_exercises_the_schedulers(reference, script):
    """The run is only a good witness if a wrong resume would show: the schedulers must move."""
    log = _read_log(reference / "lr.log")
    lrs = [log[step][0] for step in range(STEPS)]
    scales = [log[step][1] for step in range(STEPS)]
    assert lrs[0] < lrs[7]  # warm-up
    assert sum(b > a for a, b in zip(lrs, lrs[1:])) >= 10  # warm-up steps and warm restarts
    # ReduceLROnPlateau cut the scale at several epoch ends, and kept it at others.
    epoch_ends = range(script.STEPS_PER_EPOCH, STEPS, script.STEPS_PER_EPOCH)
    cuts = [scales[t] < scales[t - 1] for t in epoch_ends]
    assert sum(cuts) >= 3 and not all(cuts), cuts


def test_kill_and_resume_matches_uninterrupted_run(tmp_path, env, reference, script):
    rng = random.Random(SEED)
    # One kill step in each of three windows, so each restart has work left before the next kill.
    kill_steps = [rng.randrange(EVERY + 1, 20), rng.randrange(25, 40), rng.randrange(45, 60)]
    like = script.initial_state()
    runs, checkpoint_steps = [], []
    for kill_step in kill_steps:
        run = Run(tmp_path, env, kill_when=_at_or_past(kill_step))
        run.check(killed=True)
        runs.append(run)
        # Whatever the kill interrupted, the checkpoint file is a complete one.
        checkpoint_steps.append(int(ss.load(tmp_path / "state.ckpt", like)["step"]))
    final = Run(tmp_path, env)
    final.check(killed=False)
    runs.append(final)

    assert runs[0].resumed_from is None
    assert [run.resumed_from for run in runs[1:]] == checkpoint_steps
    for previous, run, kill_step in zip(runs, runs[1:], kill_steps):
        resumed = run.resumed_from
        assert resumed is not None, f"restart after the kill at step {kill_step} started from scratch"
        killed_at = int(previous.killed_at.split()[1])
        # `step i` is printed after the checkpoint of step i: the checkpoint is at least that recent,
        # and at most one newer (written, then killed before reporting it).
        assert resumed % EVERY == 0 and resumed >= killed_at // EVERY * EVERY > 0, (resumed, killed_at)
        assert previous.last_saved <= resumed <= previous.last_saved + EVERY, (resumed, previous.last_saved)
        assert resumed >= (previous.resumed_from or 0)
    _assert_same_run(tmp_path, reference)


def test_kill_during_checkpoint_write(tmp_path, env, reference, script):
    ckpt = tmp_path / "state.ckpt"
    like = script.initial_state()

    def temporaries():
        """Whatever `ss.save` left besides the checkpoint (the script's own files excepted)."""
        ours = {ckpt.name, "lr.log", "final.npz", "stderr.txt"}
        return sorted(p for p in tmp_path.iterdir() if p.name not in ours and not p.name.startswith(".log-"))

    # Killed inside the first `ss.save`, after the temporary file is written and fsynced and
    # before it is renamed: there is no checkpoint yet, so the next run starts from scratch.
    pause = {"CRASH_TRAIN_PAUSE_BEFORE_REPLACE": "1"}
    run = Run(tmp_path, env, kill_when=lambda line: line == "pausing before replace", extra_env=pause)
    run.check(killed=True)
    assert not ckpt.exists()
    assert len(temporaries()) == 1

    # Killed inside the third save (step 3 * EVERY): the checkpoint is the second, complete.
    pause = {"CRASH_TRAIN_PAUSE_BEFORE_REPLACE": "3"}
    run = Run(tmp_path, env, kill_when=lambda line: line == "pausing before replace", extra_env=pause)
    run.check(killed=True)
    assert run.resumed_from is None
    assert run.last_saved == 2 * EVERY
    assert int(ss.load(ckpt, like)["step"]) == 2 * EVERY
    stray = temporaries()
    assert len(stray) == 2
    # The newest stray file is the complete state of step 3 * EVERY, which never became the
    # checkpoint (the rename did not happen): resuming must not pick it up.
    assert sorted(int(ss.load(p, like)["step"]) for p in stray) == [EVERY, 3 * EVERY]

    run = Run(tmp_path, env)
    run.check(killed=False)
    assert run.resumed_from == 2 * EVERY
    _assert_same_run(tmp_path, reference)


def test_truncated_or_corrupted_checkpoint_raises(tmp_path, reference, script):
    data = (reference / "state.ckpt").read_bytes()
    like = script.initial_state()
    assert int(ss.load(reference / "state.ckpt", like)["step"]) == STEPS
    path = tmp_path / "broken.ckpt"
    # Offsets spread over the whole file, whatever its layout: the first bytes, every tenth, the last.
    n = len(data)
    spread = [n * i // 10 for i in range(1, 10)]

    for cut in sorted({0, 1, 2, 10, 30, 64, *spread, n - 1}):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError) as info:
            ss.load(path, like)
        assert "statefulsched.load" in str(info.value), (cut, info.value)
    # Cut, then padded back to the original length with zeros.
    path.write_bytes(data[: n // 2] + bytes(n - n // 2))
    with pytest.raises(ValueError):
        ss.load(path, like)

    for offset in sorted({3, 30, 64, *(i + 3 for i in spread), n - 1}):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(ValueError) as info:
            ss.load(path, like)
        assert "statefulsched.load" in str(info.value), (offset, info.value)
