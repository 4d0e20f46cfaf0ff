"""The benchmarks still run and print what they promise, at a tiny size.

Nothing here looks at the figures themselves (speed and memory are benchmarked, not asserted):
only that each bench starts the real system, gets through every phase and prints its tables with
the rows and columns a reader, or a comparison with an earlier run, relies on.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"-?[0-9][0-9,]*\.?[0-9]*"


def run_bench(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_the_pipeline_bench_prints_medians_spreads_and_the_floor() -> None:
    lines = run_bench(
        "bench.pipeline",
        *("--levels", "1", "--tasks-per-level", "2", "--repeats", "2", "--floor-samples", "20"),
        *("--check-tasks", "2"),
    )

    _check_the_medians_and_spreads(lines)
    _check_the_checks_beside_the_same_by_hand(lines)
    _check_the_floor(lines)


def _check_the_medians_and_spreads(lines: list[str]) -> None:
    # The columns of earlier runs, unchanged, so runs stay comparable.
    header = (
        "conc tasks | baseline t/s system t/s  ratio | base p50 base p99 |  sys p50  sys p99 |"
        " added p50"
    )
    assert lines.count(header) == 1, lines
    medians = lines.index(header) + 1
    assert re.fullmatch(
        rf"\s+1\s+2 \|(\s+{NUMBER}){{3}} \|(\s+{NUMBER}ms){{2}} \|(\s+{NUMBER}ms){{2}} \|"
        rf"\s+{NUMBER}ms",
        lines[medians],
    ), lines[medians]
    assert "medians over 2 repeats (baseline and system interleaved)" in lines
    spread = lines.index("spread over the 2 repeats (min-max)")
    assert lines[spread + 1].split("|")[0].split() == ["conc", "tasks"]
    pair = rf"{NUMBER}-{NUMBER}"
    assert re.fullmatch(
        rf"\s+1\s+2 \|(\s+{pair}){{3}} \|(\s+{pair}){{2}} \|(\s+{pair}){{2}} \|\s+{pair}",
        lines[spread + 2],
    ), lines[spread + 2]


def _check_the_checks_beside_the_same_by_hand(lines: list[str]) -> None:
    # Validation's checks per task, beside the same checks by hand, in the same run.
    checks = next(i for i, line in enumerate(lines) if line.startswith("validation checks"))
    assert re.fullmatch(
        r"validation checks per task \(pytest \+ smoke run\), 2 tasks, sandbox \w+",
        lines[checks],
    ), lines[checks]
    by_hand, through = (
        re.fullmatch(rf"  {side}\s+p50\s+({NUMBER}) ms\s+max\s+({NUMBER}) ms", lines[checks + n])
        for n, side in ((1, "by hand in the sandbox"), (2, "through the system"))
    )
    assert by_hand and through, lines[checks : checks + 3]
    # Each is a real run of pytest and the script in the sandbox: not nothing, and the system's
    # is that run plus its recording, so never cheaper than the run by hand by much.
    assert float(by_hand.group(1)) > 50 and float(through.group(1)) > 50
    added = re.fullmatch(
        rf"  added by the system\s+({NUMBER}) ms per task \(ratio ({NUMBER})\)", lines[checks + 3]
    )
    assert added, lines[checks + 3]
    assert abs(float(added.group(1)) - (float(through.group(1)) - float(by_hand.group(1)))) < 0.2, (
        lines[checks : checks + 4]
    )


def _check_the_floor(lines: list[str]) -> None:
    floor = next(line for line in lines if line.startswith("floor of one task"))
    found = re.search(
        rf": (\d+) appends \((\d+) on its subject, (\d+) on events.workspace\) x {NUMBER} ms"
        rf" \+ (\d+) hops x {NUMBER} ms .* = {NUMBER} ms$",
        floor,
    )
    assert found, floor
    appends, on_subject, on_workspace, hop_count = map(int, found.groups())
    assert appends == on_subject + on_workspace and on_workspace >= 1
    assert re.fullmatch(
        rf"  medians of 2 samples, one after each system run: append {NUMBER}-{NUMBER} ms,"
        rf" round trip {NUMBER}-{NUMBER} ms, floor {NUMBER}-{NUMBER} ms",
        lines[lines.index(floor) + 1],
    ), lines[lines.index(floor) + 1]
    hop_line = next(line for line in lines if line.startswith("  hops: "))
    assert hop_line.count("->") == hop_count
    assert hop_line.startswith("  hops: gateway->agents (TaskSubmitted)")
    assert hop_line.endswith("->gateway (TaskCompleted)")
    assert re.fullmatch(rf"  added p50 / floor: conc 1: {NUMBER}x", lines[-1]), lines[-1]


def test_the_memory_bench_prints_every_process_at_every_phase() -> None:
    lines = run_bench("bench.memory", "--tasks", "20", "--output-events", "40", "--runs", "2")

    header = next(i for i, line in enumerate(lines) if line.startswith("service"))
    assert [c.strip() for c in lines[header].split("|")] == [
        "service",
        "imports",
        "idle  1 task   tasks  output",
        "per 1k tasks per 10k output",
        "output/idle",
    ]
    rows = {line.split()[0]: line for line in lines[header + 1 : header + 6]}
    assert list(rows) == ["gateway", "agents", "workspace", "archive", "nats-server"]
    for name, row in rows.items():
        imports = "-" if name == "nats-server" else NUMBER
        assert re.fullmatch(
            rf"{name}\s+\| +{imports} \|(\s+{NUMBER}){{4}} \|(\s+{NUMBER}){{2}} \|\s+{NUMBER}",
            row,
        ), row
    text = "\n".join(lines)
    # The copies were absorbed: the one real task and the twenty appended, all completed. (A
    # service that raced a burst and appended a step of its own is reported, not failed: its
    # guarded appends conflict with the copy's next event, so the copy still completes.)
    assert "21 tasks completed" in text and "2 executions completed" in text, text


def test_the_cold_start_bench_prints_both_starts_the_snapshot_and_its_write_pause() -> None:
    lines = run_bench(
        "bench.cold_start", *("--events", "4000", "--tail", "200", "--snapshot-every", "1000")
    )

    text = "\n".join(lines)
    assert re.search(rf"^stream: 3,800 events appended in {NUMBER}s", text, re.M), text
    assert re.search(rf"^snapshot: #3,800, {NUMBER} MB$", text, re.M), text
    assert re.search(
        rf"^snapshot write: event loop paused {NUMBER} ms \(fork\), slowest /healthz meanwhile "
        rf"{NUMBER} ms, encoded in {NUMBER} s \(child\), uploaded in {NUMBER} s$",
        text,
        re.M,
    ), text
    header = lines.index("start                        events  time to ready")
    first, warm, restored, opened, cold = lines[header + 1 : header + 6]
    assert re.fullmatch(rf"first start \(full replay\)\s+3,800\s+{NUMBER} s", first), first
    # Every event of the tail is counted once: the stream's end is the snapshot's seq + 200.
    assert re.fullmatch(rf"snapshot \+ tail\s+4,000\s+{NUMBER} s  \(tail 200\)", warm), warm
    assert re.match(r"  gateway: read models restored from snapshot #3800 ", restored), restored
    # Where the start went, by the gateway's own clock (from the process's start).
    assert re.fullmatch(
        rf"  gateway: open at #4000, {NUMBER}s after the process started: {NUMBER}s before "
        rf"opening \(interpreter, imports, app\), connected in {NUMBER}s, read models restored "
        rf"in {NUMBER}s, the rest \(replaying the events after them\) in {NUMBER}s",
        opened,
    ), opened
    assert re.fullmatch(rf"full replay\s+4,000\s+{NUMBER} s  \(1 snapshots deleted\)", cold), cold


def test_the_timeline_bench_prints_every_step_of_a_task_with_new_files_each() -> None:
    lines = run_bench("bench.timeline", "--tasks", "2", "--files", "3")

    assert lines[0].split() == ["step", "gap", "before", "took", "(medians,", "ms)"]
    steps = [line.split()[1] for line in lines[1:-1]]
    assert steps[0] == "POST" and steps[-1] == "ws"
    # Each task wrote three files of its own, each its own append in integration.
    assert steps.count("FileWritten") == 3, lines
    assert steps.index("StageStarted(integration)") < steps.index("FileWritten")
    assert steps.index("FileWritten") < steps.index("TaskCompleted")
    assert re.fullmatch(rf"total\s+{NUMBER}\s+{NUMBER}", lines[-1]), lines[-1]
