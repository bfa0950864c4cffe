"""One run: a new simulator and store, the replicas, the client's calls (with a replica SIGKILLed and restarted, if
the plan says so), the wait for every task, what the simulator counted, and the isolation between principals."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.benchmarks.replicas.client import Down, Pool, said
from tests.benchmarks.replicas.fleet import PRINCIPALS, Proc, Rig, start_replicas, start_simulator, wait_listening
from tests.benchmarks.replicas.measure import (
    Monitor,
    TaskRow,
    finished,
    read_rows,
    served_video_sha,
    sha256_file,
)

IN_FLIGHT = 20
RESTART_AFTER = 5.0
GHOST = "wan_" + "0" * 20  # a task id that does not exist
REQUEST = {"model": "wan2.6-t2v", "size": "1280*720", "duration": 5}


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Plan:
    label: str
    tasks: int
    replicas: int
    window: float  # submits spread evenly over this many seconds (0: as fast as IN_FLIGHT allows)
    kill_at: float | None  # seconds after the first call: SIGKILL replica 1 (None: no kill)
    kill_into: float  # ... once a call has been on it this long
    queue: float
    run: float
    jitter: float
    timeout: float  # for every task to finish, after the last call returned
    isolation: int  # tasks per principal whose isolation is checked (0: none)
    env: dict[str, str] = field(default_factory=dict)  # the replicas' environment beyond the common one
    note: str = ""  # what sets this run apart, shown after the label ("sweeps off")
    baseline_of: str | None = None  # the label of the scenario this run is the baseline of (no goals then)

    @property
    def section(self) -> str:
        """The name of the run in the report."""
        return f"{self.label} ({self.note})" if self.note else self.label


@dataclass
class Call:
    index: int
    principal: str
    key: str
    prompt: str
    replica: int
    task_id: str | None = None
    status: str | None = None
    answered_by: int | None = None
    attempts: int = 0
    error: str | None = None


@dataclass
class Outcome:
    plan: Plan
    stats: dict[str, int]
    sim_tasks: dict[str, dict[str, Any]]  # remote id -> the simulator's row
    rows: list[TaskRow]
    calls: list[Call]
    complete: bool
    wall: float
    monitor: Monitor
    retried: int
    opened: int  # sessions opened
    gave_up: int
    failures: list[str]
    served_sha: str | None
    file_sha: dict[str, str | None]  # task id -> sha256 of its local file (None: missing)
    isolation: dict[str, list[str]]  # check -> failures ("" for a pass)
    killed: str | None
    cut: list[str]  # keys of the calls in progress on the killed replica
    replicas: list[Proc]


class Scenario:
    """One run: a simulator, the replicas on a new store, the client's calls, and what came of them."""

    def __init__(self, plan: Plan, rig: Rig) -> None:
        self.plan, self.rig = plan, rig
        self.work = rig.tmp / plan.label
        self.work.mkdir()
        self.killed: str | None = None
        self.cut: list[str] = []  # keys of the calls in progress on the replica when it was killed
        self.started = 0.0
        self.replicas: list[Proc] = []
        self.ports: list[int] = []
        tag = secrets.token_hex(3)  # keys and prompts of this run only
        self.calls = [
            Call(
                i,
                PRINCIPALS[i % 2],
                f"bench-{plan.label}-{tag}-{i:04d}",
                f"bench {plan.label} {tag}: a paper boat number {i} drifting on a calm lake at sunrise",
                i % plan.replicas,
            )
            for i in range(plan.tasks)
        ]

    async def kill_and_restart(self, pool: Pool, victim: int, at: float, into: float) -> None:
        """At ``at`` s, once a call has been on the victim for ``into`` s (waiting at most 5 s for one),
        SIGKILL it; start it again RESTART_AFTER s later. The calls it had are noted in ``self.cut``."""
        await anyio.sleep(max(0.0, self.started + at - time.monotonic()))
        with anyio.move_on_after(5):
            while not any(t < time.monotonic() - into for t, _ in pool.active.get(victim, {}).values()):
                await anyio.sleep(0.002)
        proc = self.replicas[victim]
        proc.kill()
        self.cut = [label for _, label in pool.active.get(victim, {}).values()]
        killed_at = time.monotonic() - self.started
        await anyio.sleep(RESTART_AFTER)
        proc.start()
        await wait_listening(proc, self.ports[victim])
        self.killed = (
            f"{proc.name} SIGKILLed at +{killed_at:.1f} s with {len(self.cut)} call(s) in progress on it, "
            f"listening again at +{time.monotonic() - self.started:.1f} s"
        )
        say(f"   {self.killed}")

    async def submit_all(self, pool: Pool) -> None:
        """Every call, spread over the window, at most IN_FLIGHT at once; a failed replica's calls go to the next
        one with the same idempotency key."""
        plan, limit = self.plan, anyio.Semaphore(IN_FLIGHT)

        async def submit(call: Call) -> None:
            async with limit:
                arguments = {**REQUEST, "prompt": call.prompt, "wait_seconds": 0, "idempotency_key": call.key}
                call.attempts = 1  # in flight
                try:
                    result, call.answered_by, call.attempts = await pool.call(
                        call.principal,
                        call.replica,
                        lambda c: c.call_tool("generate_video", arguments),
                        attempts=4 * plan.replicas,
                        label=call.key,
                    )
                except Down as exc:
                    call.error = str(exc)
                    return
                content = result.structured_content or {}
                if result.is_error:
                    call.error = said(result)[:200]
                call.task_id, call.status = content.get("task_id"), content.get("status")

        async with anyio.create_task_group() as submits:
            for call in self.calls:
                await anyio.sleep(max(0.0, self.started + call.index * plan.window / plan.tasks - time.monotonic()))
                submits.start_soon(submit, call)

    async def wait_finished(self, where: str, monitor: Monitor) -> tuple[list[TaskRow], bool]:
        """The store's rows once every task has finished (and a killed replica is back), True; or as they are at
        the timeout, False."""
        plan, rows = self.plan, list[TaskRow]()
        deadline, next_note = time.monotonic() + plan.timeout, time.monotonic() + 15
        while True:
            rows = await anyio.to_thread.run_sync(read_rows, self.rig.store, where)
            if len(rows) >= plan.tasks and all(finished(r) for r in rows) and (plan.kill_at is None or self.killed):
                return rows, True
            now = time.monotonic()
            if now > deadline:
                return rows, False
            if now >= next_note:
                next_note = now + 15
                succeeded = sum(r.state == "succeeded" for r in rows)
                saved = sum(r.download_state == "downloaded" for r in rows)
                polls = monitor.samples[-1][1] if monitor.samples else 0
                say(
                    f"   +{now - self.started:4.0f} s: {len(rows)} tasks stored, {succeeded} succeeded, {saved} saved; "
                    f"{polls} polls so far"
                )
            await anyio.sleep(1.0)

    async def run(self) -> Outcome:
        plan = self.plan
        sim, base_url = await start_simulator(self.rig, self.work, plan.queue, plan.run, plan.jitter)
        root = base_url[: base_url.index("/api/v1")]
        self.replicas, self.ports, where = await start_replicas(self.rig, self.work, plan.replicas, base_url, plan.env)
        replicas, ports = self.replicas, self.ports
        monitor = Monitor(root, replicas)
        isolation: dict[str, list[str]] = {}
        async with anyio.create_task_group() as tg:
            pool = Pool(tg, [f"http://127.0.0.1:{port}/mcp" for port in ports], self.rig.tokens)
            try:
                dry_run = {**REQUEST, "prompt": "a dry run", "dry_run": True}
                dry, _, _ = await pool.call("alice", 0, lambda c: c.call_tool("generate_video", dry_run))
                if dry.is_error or (dry.structured_content or {}).get("status") != "dry_run":
                    raise RuntimeError(f"the request is not accepted: {said(dry)}")
                tg.start_soon(monitor.run)
                say(
                    f"{plan.section}: {plan.tasks} calls on {plan.replicas} replica(s)"
                    + (f" over {plan.window:g} s" if plan.window else "")
                    + (f"; replica1 SIGKILLed at +{plan.kill_at:g} s" if plan.kill_at is not None else "")
                    + f"; tasks queue {plan.queue:g} s + run {plan.run:g} s (jitter {plan.jitter:g}), "
                    f"store {self.rig.store}" + "".join(f"; {k}={v}" for k, v in plan.env.items())
                )
                self.started = time.monotonic()
                if plan.kill_at is not None:
                    tg.start_soon(self.kill_and_restart, pool, 1 % plan.replicas, plan.kill_at, plan.kill_into)
                await self.submit_all(pool)
                errors = sum(1 for c in self.calls if c.error)
                say(
                    f"   every call returned after {time.monotonic() - self.started:.1f} s ({errors} with an error); "
                    "waiting for the tasks"
                )
                rows, complete = await self.wait_finished(where, monitor)
                wall = time.monotonic() - self.started
                # The counters first, before anything here touches the simulator.
                async with httpx.AsyncClient() as http:
                    stats = (await http.get(f"{root}/_sim/stats")).json()
                    listed = (await http.get(f"{root}/_sim/tasks")).json()["tasks"]
                if plan.isolation:
                    isolation = await check_isolation(pool, self.calls, rows, plan)
            finally:
                await pool.close()
                tg.cancel_scope.cancel()
        served_sha = await served_video_sha(base_url, rows)
        file_sha = {
            r.id: sha256_file(Path(r.local_path)) if r.local_path and Path(r.local_path).exists() else None
            for r in rows
        }
        return Outcome(
            plan=plan,
            stats=stats,
            sim_tasks={t["task_id"]: t for t in listed},
            rows=rows,
            calls=self.calls,
            complete=complete,
            wall=wall,
            monitor=monitor,
            retried=sum(1 for c in self.calls if c.attempts > 1),
            opened=pool.opened,
            gave_up=sum(1 for c in self.calls if c.error and c.task_id is None),
            failures=list(pool.failures),
            served_sha=served_sha,
            file_sha=file_sha,
            isolation=isolation,
            killed=self.killed,
            cut=self.cut,
            replicas=[sim, *replicas],
        )


async def check_isolation(pool: Pool, calls: list[Call], rows: list[TaskRow], plan: Plan) -> dict[str, list[str]]:
    """Each check's outcomes: "" for a pass, else what was wrong."""
    results: dict[str, list[str]] = {
        "other's check_task = unknown id's": [],
        "other's video read = unknown id's": [],
        "owner's check_task succeeds": [],
        "owner's video read succeeds": [],
        "list_tasks shows only own tasks": [],
    }
    by_key = {r.idempotency_key: r for r in rows}
    own: dict[str, set[str]] = {p: {r.id for r in rows if r.principal == p} for p in PRINCIPALS}
    samples: list[tuple[str, str, int]] = []  # (owner, task id, replica)
    for principal in PRINCIPALS:
        mine = [c for c in calls if c.principal == principal and c.key in by_key]
        samples += [(principal, by_key[c.key].id, i % plan.replicas) for i, c in enumerate(mine[: plan.isolation])]

    async def text_of(principal: str, replica: int, tool: str, task_id: str) -> tuple[bool, str]:
        result, _, _ = await pool.call(principal, replica, lambda c: c.call_tool(tool, {"task_id": task_id}))
        return bool(result.is_error), said(result)

    async def read(principal: str, replica: int, task_id: str) -> str | None:
        """None when the video was read, else the error's text."""

        async def attempt(client: Client) -> str | None:
            try:
                await client.read_resource(f"wan-video://videos/{task_id}.mp4")
            except MCPError as exc:  # the server's answer: an error
                return exc.error.message
            return None

        answer, _, _ = await pool.call(principal, replica, attempt)
        return answer

    unknown: dict[tuple[str, int], tuple[str, str | None]] = {}
    for principal in PRINCIPALS:
        for replica in range(plan.replicas):
            _, text = await text_of(principal, replica, "check_task", GHOST)
            unknown[(principal, replica)] = (text.replace(GHOST, "ID"), (await read(principal, replica, GHOST)))
    for owner, task_id, replica in samples:
        other = next(p for p in PRINCIPALS if p != owner)
        ghost_text, ghost_read = unknown[(other, replica)]
        error, text = await text_of(other, replica, "check_task", task_id)
        ok = error and text.replace(task_id, "ID") == ghost_text
        results["other's check_task = unknown id's"].append("" if ok else f"{other} on {task_id}: {text[:160]}")
        refused = await read(other, replica, task_id)
        same = (
            refused is not None
            and ghost_read is not None
            and refused.replace(task_id, "ID") == ghost_read.replace(GHOST, "ID")
        )
        results["other's video read = unknown id's"].append("" if same else f"{other} read {task_id}: {refused}")
        error, text = await text_of(owner, replica, "check_task", task_id)
        results["owner's check_task succeeds"].append("" if not error else f"{owner} on {task_id}: {text[:160]}")
        got = await read(owner, replica, task_id)
        results["owner's video read succeeds"].append("" if got is None else f"{owner} read {task_id}: {got[:160]}")
    for principal in PRINCIPALS:
        for replica in range(plan.replicas):
            listed, _, _ = await pool.call(principal, replica, lambda c: c.call_tool("list_tasks", {"limit": 100}))
            for task in (listed.structured_content or {}).get("tasks", []):
                tid = task.get("task_id")
                results["list_tasks shows only own tasks"].append(
                    "" if tid in own[principal] else f"{principal} on replica{replica} sees {tid}"
                )
    return results
