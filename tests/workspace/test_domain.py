"""Pure workspace-service logic, without NATS: output bounds, integration decisions, commands."""

from __future__ import annotations

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    Event,
    FileRef,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
)
from orchestrator.events.testing import recorded
from orchestrator.workspace import integration
from orchestrator.workspace.output import CUT_MARK, OutputLimiter
from orchestrator.workspace.sandbox import command
from orchestrator.workspace.sandbox.profile import SandboxProfile

# Output bounds


def limiter(max_line: int = 10, max_bytes: int = 1000, max_lines: int = 100) -> OutputLimiter:
    return OutputLimiter(max_line=max_line, max_bytes=max_bytes, max_lines=max_lines)


def test_lines_split_across_chunks_come_out_whole_and_in_order() -> None:
    out = limiter()
    assert out.feed(b"ab") == []
    assert out.feed(b"c\nde\r\nf") == ["abc", "de"]
    assert out.close() == ["f"]
    assert not out.truncated


def test_a_line_without_newlines_is_cut_and_the_rest_dropped_until_its_end() -> None:
    out = limiter(max_line=4)
    lines = out.feed(b"x" * 10_000)
    lines += out.feed(b"y" * 10_000 + b"\nok\n")
    assert lines == ["xxxx" + CUT_MARK, "ok"]
    assert out.truncated


def test_binary_output_is_decoded_with_replacement() -> None:
    out = limiter(max_line=100)
    assert out.feed(b"\xff\x00abc\n") == ["\ufffd\x00abc"]


def test_beyond_the_byte_budget_everything_is_counted_and_dropped() -> None:
    out = limiter(max_line=100, max_bytes=50)
    kept: list[str] = []
    for _ in range(1000):
        kept += out.feed(b"0123456789\n")
    kept += out.close()
    assert sum(len(k) + 1 for k in kept[:-1]) <= 55
    assert kept[-1].startswith("[output truncated:")
    assert out.truncated and out.dropped_bytes > 10_000


def test_beyond_the_line_budget_lines_are_dropped() -> None:
    out = limiter(max_lines=3)
    kept = out.feed(b"\n" * 100)
    assert kept == ["", "", ""]
    assert out.truncated


# Integration decisions


FILES = (FileRef(path="app.py", digest="a" * 64, size=3),)


def history(*extra: Event) -> list[RecordedEvent]:
    events: list[Event] = [
        TaskSubmitted(task_id="t", requirement="r", priority=5),
        StageCompleted(task_id="t", stage="analysis", agent="claude", summary="s"),
        StageCompleted(
            task_id="t", stage="implementation", agent="codex", summary="s", files=FILES, round=2
        ),
        *extra,
    ]
    return [recorded(e, i + 1) for i, e in enumerate(events)]


VALIDATED = StageCompleted(task_id="t", stage="validation", agent="claude2", summary="ok")


def test_nothing_to_do_before_validation_passed() -> None:
    assert integration.decide(history()) is None


def test_validation_passed_means_integrate_the_latest_implementation() -> None:
    plan = integration.decide(history(VALIDATED))
    assert plan is not None
    assert (plan.task_id, plan.files, plan.started, plan.round) == ("t", FILES, False, 2)


def test_an_interrupted_integration_resumes_without_starting_twice() -> None:
    started = StageStarted(task_id="t", stage="integration", agent="ide")
    plan = integration.decide(history(VALIDATED, started))
    assert plan is not None and plan.started


def test_a_recorded_stage_completion_only_needs_the_task_completion() -> None:
    started = StageStarted(task_id="t", stage="integration", agent="ide")
    done = StageCompleted(task_id="t", stage="integration", agent="ide", summary="s", files=FILES)
    plan = integration.decide(history(VALIDATED, started, done))
    assert plan is not None and plan.completed == FILES
    assert integration.decide(history(VALIDATED, started, done, TaskCompleted(task_id="t"))) is None


def test_cancelled_tasks_are_never_integrated() -> None:
    assert integration.decide(history(VALIDATED, TaskCancelled(task_id="t"))) is None


def test_a_retry_at_integration_after_a_failure_integrates_again() -> None:
    failed = StageFailed(
        task_id="t", stage="integration", agent="ide", code="WORKSPACE_ERROR", message="m"
    )
    task_failed = TaskFailed(task_id="t", stage="integration", code="WORKSPACE_ERROR", message="m")
    assert integration.decide(history(VALIDATED, failed, task_failed)) is None
    plan = integration.decide(
        history(VALIDATED, failed, task_failed, TaskRetried(task_id="t", stage="integration"))
    )
    assert plan is not None and not plan.started


def test_implementation_paths_land_under_implementation() -> None:
    assert integration.workspace_path("app/main.py") == "implementation/app/main.py"
    assert integration.workspace_path("./x.py") == "implementation/x.py"


# Commands


def profile(mode: str = "bubblewrap", as_root: bool = True) -> SandboxProfile:
    return SandboxProfile(
        mode=mode,  # type: ignore[arg-type]
        as_root=as_root,
        layers={},
        site_packages="/venv/site",
        python="/usr/bin/python3",
    )


LIMITS = command.Limits(
    cpu_seconds=5,
    memory_bytes=1 << 30,
    file_size_bytes=1 << 20,
    open_files=64,
    processes=32,
    tmp_bytes=1 << 24,
)


def test_the_sandboxed_command_confines_everything() -> None:
    launch = command.build(
        profile(),
        LIMITS,
        stage="/runs/exec_1",
        file_path="implementation/app/main.py",
        command="python main.py",
        allow_network=False,
        seccomp_fd=7,
    )
    argv = launch.argv
    assert argv[:4] == command.GATE  # waits to be put in its cgroup
    argv = argv[4:]
    assert argv[0] == "prlimit" and "--nproc=32" in argv and "--cpu=5" in argv
    assert argv[argv.index("--") + 1] == "bwrap"
    joined = " ".join(argv)
    assert "--ro-bind /runs/exec_1/project /snapshot" in joined
    assert f"--size {1 << 24} --tmpfs /tmp" in joined
    assert "--perms 1777 --tmpfs /dev/shm" in joined and "--tmpfs /workspace" in joined
    assert "--remount-ro /" in joined and "--remount-ro /dev" in joined
    assert "--unshare-all" in argv and "--share-net" not in argv
    assert "--die-with-parent" in argv and "--clearenv" in argv
    assert "--seccomp 7" in joined
    assert argv[-3:] == ["/workspace/implementation/app", "/usr/bin/python3", "main.py"]
    assert set(launch.env) == {
        "PATH",
        "LANG",
        "HOME",
        "TMPDIR",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPATH",
    }


def test_without_root_the_process_limit_is_set_inside_the_runs_user_namespace_only() -> None:
    launch = command.build(
        profile(as_root=False),
        LIMITS,
        stage="/s",
        file_path="a.py",
        command="python -m pytest -q a.py",
        allow_network=True,
    )
    argv = launch.argv
    # bwrap's options end at its "--"; what follows runs inside the sandbox
    inside = next(i for i, a in enumerate(argv) if a == "--" and argv[i + 1] == "/bin/sh")
    assert "--uid" in argv[:inside] and "--size" in argv[:inside]
    assert not any(a.startswith("--nproc") for a in argv[:inside])
    assert argv[-10:-7] == ["prlimit", "--nproc=32", "--"]
    assert launch.argv[:4] == command.GATE
    assert "--share-net" in launch.argv
    assert launch.argv[-7:] == [
        "/usr/bin/python3",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "a.py",
    ]


def test_a_file_changed_since_the_task_read_it_is_a_conflict_not_an_overwrite() -> None:
    base = (FileRef(path="app.py", digest="b" * 64, size=1),)
    mine = (FileRef(path="app.py", digest="n" * 64, size=1),)
    events = [
        recorded(TaskSubmitted(task_id="t", requirement="r", priority=5, project=base), 1),
        recorded(
            StageCompleted(
                task_id="t",
                stage="implementation",
                agent="codex",
                summary="s",
                files=mine,
                deleted=("old.py",),
            ),
            2,
        ),
        recorded(VALIDATED, 3),
    ]
    plan = integration.decide(events)
    assert plan is not None and plan.deleted == ("old.py",) and plan.base == base
    untouched = {"implementation/app.py": "b" * 64}
    assert integration.conflicts(plan, untouched) == []
    assert integration.conflicts(plan, {"implementation/app.py": "n" * 64}) == []  # resumed
    edited = {"implementation/app.py": "p" * 64, "implementation/old.py": "q" * 64}
    assert integration.conflicts(plan, edited) == ["app.py", "old.py"]


def test_the_landlock_launch_confines_to_the_runs_own_copy_and_scratch() -> None:
    launch = command.build(
        profile("landlock"),
        LIMITS,
        stage="/runs/exec_2",
        file_path="implementation/app/main.py",
        command="python main.py",
        allow_network=False,
    )
    assert launch.argv[1:4] == ["-I", "-m", "orchestrator.workspace.sandbox.enter"]
    assert launch.argv[-3:] == ["--", "/usr/bin/python3", "main.py"]
    assert set(launch.env) == {"PATH", "LANG"}  # nothing of the service's environment
    policy = launch.policy
    assert policy is not None
    assert policy.cwd == "/runs/exec_2/work/implementation/app"
    assert policy.snapshot == "/runs/exec_2/project"
    assert policy.read_write[:2] == ["/runs/exec_2/work", "/runs/exec_2/tmp"]
    assert "/runs/exec_2/project" not in policy.read_only and "/etc" not in policy.read_only
    assert policy.sockets == "none" and policy.uid == 61000 and policy.own_network
    assert policy.rlimits["RLIMIT_NPROC"] == 32 and policy.env["TMPDIR"] == "/runs/exec_2/tmp"


def test_without_root_a_landlock_run_still_gets_its_process_limit() -> None:
    launch = command.build(
        profile("landlock", as_root=False),
        LIMITS,
        stage="/r",
        file_path="app.py",
        command="python app.py",
        allow_network=False,
    )
    assert launch.policy is not None
    assert launch.policy.uid is None  # it stays the service's uid, in a user namespace of its own
    assert launch.policy.rlimits["RLIMIT_NPROC"] == 32


def test_a_landlock_server_may_open_tcp_sockets_in_its_own_network_only() -> None:
    launch = command.build(
        profile("landlock"),
        LIMITS,
        stage="/r",
        file_path="app.py",
        command="python app.py",
        allow_network=False,
        server=True,
    )
    assert launch.policy is not None and launch.policy.sockets == "tcp"
    assert launch.policy.own_network
