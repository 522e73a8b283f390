"""The benchmark script's machinery, at toy sizes: it runs, counts what it says it counts, reports.

Nothing here measures time; the numbers are in docs/performance.md.
"""

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import performance  # noqa: E402

import statefulsched as ss  # noqa: E402

TINY = dataclasses.replace(performance.QUICK, curve_n=64, curve_repeats=1, curve_rounds=1)


def _body_ops(body, carry, n: int, unroll: int) -> int:
    run = jax.jit(lambda c: lax.scan(body, c, None, length=n, unroll=unroll)[1])
    return performance.loop_body_ops(run.lower(carry).compile().as_text())


def test_loop_body_ops_reads_the_loop_body():
    def count(c, _):
        return c + 1, c.astype(jnp.float32)

    def step(s, _):
        s = s.step()
        return s, s.lr

    assert _body_ops(count, jnp.int32(0), 64, 1) >= 1
    cosine = ss.CosineAnnealingLR(0.1, T_max=64)
    # Four steps per iteration: more operations in the body than one step per iteration.
    assert _body_ops(step, cosine, 64, 4) > _body_ops(step, cosine, 64, 1) >= 1


def test_unroll_section_runs_and_reports(monkeypatch):
    monkeypatch.setattr(performance, "UNROLLS", (1, 2))
    result = performance.section_unroll(TINY)
    names = [name for name, _, _ in performance.unroll_cases(TINY.curve_n)]
    assert [row["case"] for row in result["rows"]] == names
    for row in result["rows"]:
        assert set(row["s_per_step"]) == {1, 2}
        assert all(len(times) == 1 and times[0] > 0 for times in row["s_per_step"].values())
        assert all(ops >= 1 for ops in row["body_ops"].values())
    assert result["compiles_during_timing"] == 0
    table = [line for line in performance.report_unroll(result, TINY).splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(names)
    assert all(line.count("|") == len(performance.UNROLLS) + 3 for line in table)  # name, unrolls, ops
