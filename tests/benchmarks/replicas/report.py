"""What is printed: each run's checks (what must be exactly right) and numbers (compared with the issue's goals),
the table of them all, and a scenario's numbers beside its baseline's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.benchmarks.replicas.fleet import POLL_QPS
from tests.benchmarks.replicas.measure import (
    TaskRow,
    detection_lags,
    ends,
    finished,
    p95,
    polls_per_task,
    saved_lags,
    spread,
)
from tests.benchmarks.replicas.scenario import Outcome, say


@dataclass
class Row:
    section: str
    metric: str
    value: str
    unit: str
    goal: str = ""
    compare: bool = False  # shown beside its baseline's (a baseline's such row: only there)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    baselines: list[tuple[str, str]] = field(default_factory=list)  # (a section, its baseline's section)

    def add(
        self,
        section: str,
        metric: str,
        value: float | int | str,
        unit: str = "",
        fmt: str = ".1f",
        goal: str = "",
        met: bool | None = None,
        compare: bool = False,
    ) -> None:
        text = value if isinstance(value, str) else format(value, fmt if isinstance(value, float) else "d")
        verdict = "" if met is None else ("  ok" if met else "  MISSED")
        self.rows.append(Row(section, metric, text, unit, goal + verdict if goal else "", compare))

    def print(self) -> None:
        """The table (without a baseline's compared rows), then each scenario beside its baseline."""
        aside = {base for _, base in self.baselines}
        rows = [r for r in self.rows if not (r.compare and r.section in aside)]
        print()
        columns(
            [
                ("section", "metric", "value", "unit", "goal"),
                *((r.section, r.metric, r.value, r.unit, r.goal) for r in rows),
            ],
            right={2},
        )
        for main, base in self.baselines:
            self.print_beside(main, base)

    def print_beside(self, main: str, base: str) -> None:
        """The compared numbers of a scenario and of its baseline, side by side."""
        mine = {r.metric: r for r in self.rows if r.section == main and r.compare}
        theirs = {r.metric: r for r in self.rows if r.section == base and r.compare}
        table = [("metric", main, base, "unit")]
        for metric in [*mine, *(m for m in theirs if m not in mine)]:
            a, b = mine.get(metric), theirs.get(metric)
            unit = a.unit if a else b.unit if b else ""
            table.append((metric, a.value if a else "-", b.value if b else "-", unit))
        print(f"\n{main} beside its baseline, {base}:")
        columns(table, right={1, 2})


def columns(table: Sequence[Sequence[str]], right: set[int]) -> None:
    """The rows in aligned columns (those in ``right`` right-justified)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = (
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        print("  ".join(cells).rstrip())


def report_correctness(o: Outcome, report: Report, problems: list[str]) -> None:
    """Submits, the store's rows by key, finished tasks, downloads and hashes: what must be exactly right."""
    n, section, stats, rows = o.plan.tasks, o.plan.section, o.stats, o.rows

    def line(metric: str, value: str, goal: str, ok: bool, problem: str, unit: str = "") -> None:
        report.add(section, metric, value, unit, goal=goal, met=ok)
        if not ok and problem:
            problems.append(f"{section}: {problem}")

    submits = f"{stats['submits']} / {stats['submits_accepted']}"
    ok = stats["submits"] == n and stats["submits_accepted"] == n
    line("submits / accepted at the simulator", submits, f"exactly {n}", ok, f"submits / accepted {submits} != {n}")
    by_key: dict[str | None, list[TaskRow]] = {}
    for r in rows:
        by_key.setdefault(r.idempotency_key, []).append(r)
    keys = {c.key for c in o.calls}
    odd: dict[str, list[str | None]] = {
        "duplicated keys": [k for k, rs in by_key.items() if len(rs) > 1],
        "keys missing": [c.key for c in o.calls if c.key not in by_key],
        "keys never used": [k for k in by_key if k not in keys],
        "wrong principal": [c.key for c in o.calls if c.key in by_key and by_key[c.key][0].principal != c.principal],
        "a call's task id is not the key's": [
            c.key for c in o.calls if c.task_id and c.key in by_key and by_key[c.key][0].id != c.task_id
        ],
    }
    found = {name: which[:3] for name, which in odd.items() if which}
    ok = len(rows) == n and not found
    line("tasks in the store (distinct keys)", f"{len(rows)} ({len(by_key)})", f"{n}, none lost", ok, f"{found}")
    unfinished = [r for r in rows if not finished(r)]
    unsaved = [r for r in rows if finished(r) and not (r.state == "succeeded" and r.download_state == "downloaded")]
    unknown = [r for r in rows if not r.remote_id or r.remote_id not in o.sim_tasks]
    detail = "".join(
        f"\n      {r.id} key={r.idempotency_key} state={r.state} download={r.download_state} remote={r.remote_id}"
        for r in list({r.id: r for r in unfinished + unsaved + unknown}.values())[:10]
    )
    line(
        "tasks succeeded and saved",
        f"{n - len(unfinished) - len(unsaved)} / {n}",
        "all",
        o.complete and not unfinished and not unsaved and not unknown,
        f"not finished {len(unfinished)}, failed or not saved {len(unsaved)}, no simulator task {len(unknown)}"
        + ("" if o.complete else " (timed out)")
        + detail,
    )
    gave_up = [c for c in o.calls if c.error and c.task_id is None]
    errored = [c for c in o.calls if c.error and c.task_id]
    report.add(section, "calls made again elsewhere / failed", f"{o.retried} / {len(gave_up)}", "calls")
    if gave_up or errored:
        problems.append(
            f"{section}: {len(gave_up)} calls failed on every attempt, {len(errored)} answered with an error: "
            + "; ".join(c.error or "" for c in gave_up + errored)[:600]
        )
    downloads = f"{stats['downloads']} / {stats['downloads_completed']}"
    once = stats["downloads"] == n and stats["downloads_completed"] == n
    report.add(section, "downloads / completed at the simulator", downloads, "", goal=f"{n} each", met=once)
    same_file = sum(1 for r in rows if r.sha256 and o.file_sha.get(r.id) == r.sha256)
    same_served = sum(1 for r in rows if r.sha256 and r.sha256 == o.served_sha)
    ok = same_file == same_served == len(rows) and o.served_sha is not None
    line(
        "sha256 file == stored / stored == served",
        f"{same_file} / {same_served}",
        "all",
        ok,
        f"sha256 file == stored for {same_file}, stored == served for {same_served} of {len(rows)} "
        f"(served {o.served_sha})",
        f"of {len(rows)}",
    )
    if o.isolation:
        for name, outcomes in o.isolation.items():
            failed = [x for x in outcomes if x]
            line(
                f"isolation: {name}",
                f"{len(outcomes) - len(failed)} / {len(failed)}",
                "none failed",
                not failed,
                f"{name}: {len(failed)} failed, e.g. {failed[0] if failed else ''}",
                "passed / failed",
            )


def report_numbers(o: Outcome, report: Report) -> None:
    """Polls, detection lag, the poll rate, memory: measured, compared with the goals (not a baseline's), never an
    error. The rows a scenario and its baseline are compared on are marked ``compare``."""
    plan, section, rows = o.plan, o.plan.section, o.rows
    goals = plan.baseline_of is None

    def add(metric: str, value: float | str, unit: str, goal: str = "", met: bool | None = None) -> None:
        report.add(section, metric, value, unit, goal=goal if goals else "", met=met if goals else None, compare=True)

    ended = ends(o.sim_tasks)
    mean = o.stats["polls"] / plan.tasks
    add("polls per task (simulator total / N)", mean, "polls", goal="<= 12", met=mean <= 12)
    per_task = polls_per_task(o.sim_tasks)
    if any(per_task):
        add("polls per task p50 / p95 / max", spread(per_task), "polls")
    lags, saved = detection_lags(rows, ended), saved_lags(rows, ended)
    if lags:
        add("detection lag p50 / p95 / max", spread(lags), "s", goal="p95 <= 5", met=p95(lags) <= 5)
    if saved:
        add("saved lag p50 / p95 / max", spread(saved), "s")
    add("task-list reads (sweeps)", f"{o.stats['lists']:d}", "reads")
    # One-second samples of a counter read over HTTP: 5 % for the timing of the reads themselves.
    peak, peak5 = o.monitor.peak_rate(1), o.monitor.peak_rate(5)
    add(
        "peak queries/s over 1 s / 5 s",
        f"{peak:.1f} / {peak5:.1f}",
        "/s",
        goal=f"<= {POLL_QPS}",
        met=peak <= POLL_QPS * 1.05,
    )
    durations = [ended[tid] - t["gmt_create"] / 1000 for tid, t in o.sim_tasks.items() if tid in ended]
    if durations:
        report.add(section, "simulated task length min / max", f"{min(durations):.0f} / {max(durations):.0f}", "s")
    report.add(section, "sessions opened / failed attempts", f"{o.opened} / {len(o.failures)}", "")
    for proc in o.replicas:
        if count := proc.problems():
            report.add(section, f"{proc.name}: ERROR lines + tracebacks in its log", count, "lines")
    alone = plan.replicas == 1
    for name, kb in sorted(o.monitor.hwm_kb.items()):
        memory = f"{kb / 1024:.1f} / {o.monitor.rss_kb.get(name, 0) / 1024:.1f}"
        add(
            f"{name} VmHWM / max VmRSS",
            memory,
            "MB",
            goal="<= 150 (VmHWM)" if alone else "",
            met=kb / 1024 <= 150 if alone else None,
        )


def say_slowest(o: Outcome, count: int = 5) -> None:
    """The tasks whose end was seen last after it happened: who took the call, how often each was polled."""
    by_key = {c.key: c for c in o.calls}
    timed = []
    for r in o.rows:
        sim = o.sim_tasks.get(r.remote_id or "")
        if sim and sim.get("end_time") and r.last_polled_at and r.state == "succeeded":
            timed.append((r.last_polled_at - sim["end_time"] / 1000, r, sim))
    if not timed:
        return
    say(f"   the {min(count, len(timed))} slowest detections:")
    for lag, r, sim in sorted(timed, key=lambda item: item[0], reverse=True)[:count]:
        call = by_key.get(r.idempotency_key or "")
        taker = f"replica{call.answered_by}" if call and call.answered_by is not None else "?"
        length = (sim["end_time"] - sim["gmt_create"]) / 1000
        say(
            f"      {r.id}: seen {lag:5.1f} s after its end; ran {length:5.1f} s; call taken by {taker}; "
            f"{sim.get('polls', '?')} polls at the simulator, poll_count {r.poll_count} in the store"
        )


def report_outcome(o: Outcome, report: Report, problems: list[str]) -> None:
    plan = o.plan
    say(f"\n{plan.section}: {plan.tasks} tasks on {plan.replicas} replica(s), done in {o.wall:.0f} s")
    if o.killed:
        say(f"   {o.killed}")
    calls = {c.key: c for c in o.calls}
    for key in o.cut:
        c, rows = calls[key], [r for r in o.rows if r.idempotency_key == key]
        say(
            f"      cut call {key}: {c.attempts} attempts, answered by replica{c.answered_by} with {c.task_id} "
            f"({c.status}); store: {[(r.id, r.state, r.submit_attempts) for r in rows]}"
        )
    say_slowest(o)
    if o.failures:
        say(f"   failed attempts ({len(o.failures)}), first ones:")
        for line in o.failures[:8]:
            say(f"      {line}")
    report_correctness(o, report, problems)
    report_numbers(o, report)
    if plan.baseline_of is not None:
        report.baselines.append((plan.baseline_of, plan.section))
