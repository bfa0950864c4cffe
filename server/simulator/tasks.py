"""The simulated tasks: their states (a function of the clock, so nothing ticks) and the store that holds them."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from wan_video_mcp.server.simulator.config import SimulatorConfig
from wan_video_mcp.server.simulator.plans import SubmitPlan, TaskMedia

# Task states, as the wire spells them.
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELED",
    "UNKNOWN",
)
STARTED = (RUNNING, SUCCEEDED, FAILED)  # states that have a start (scheduled) time
ENDED = (SUCCEEDED, FAILED)  # states that ran to an end time


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class SimTask:
    """One simulated task. Its state is a function of the clock, so nothing needs to tick."""

    task_id: str
    request_id: str
    plan: SubmitPlan
    api_key: str
    submitted_at: float
    scheduled_at: float
    ends_at: float
    failure: tuple[str, str] | None = None  # (code, message): ends FAILED instead of SUCCEEDED
    canceled_at: float | None = None
    via: str = "/api/v1"  # where it was submitted: a DashScope API root, or a gateway dialect ("newapi", ...)
    gateway_id: str | None = None  # the id a gateway dialect handed out for it
    # Its input URLs are still being read (``media``): it cannot end before; ``media`` is what was read.
    inputs_pending: bool = False
    media: TaskMedia | None = None
    polls: int = 0  # task queries answered for it (``GET /tasks/{id}``)

    def state(self, now: float) -> str:
        if self.canceled_at is not None:
            return CANCELED
        if now < self.scheduled_at:
            return PENDING
        if now < self.ends_at or self.inputs_pending:
            return RUNNING
        return FAILED if self.failure else SUCCEEDED

    def expired(self, now: float, ttl: float) -> bool:
        return now >= self.submitted_at + ttl

    def end_time(self, state: str) -> float | None:
        """When the task ended (ran out or was canceled); None while it has not."""
        if state in ENDED:
            return self.ends_at
        if state == CANCELED:
            return self.canceled_at
        return None


class TaskStore:
    """Every task of the simulator, by DashScope id and by the id a gateway handed out, on the simulator's clock."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._offset = 0.0
        self._tasks: dict[str, SimTask] = {}
        self._gateway_ids: dict[tuple[str, str], str] = {}  # (dialect, gateway id) -> task id
        self._random = random.Random(config.seed)

    def now(self) -> float:
        return self._config.clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (task states, task TTL, URL expiry all follow)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    def get(self, task_id: str) -> SimTask | None:
        return self._tasks.get(task_id)

    def all(self) -> list[SimTask]:
        return list(self._tasks.values())

    def live(self, task_id: str) -> SimTask | None:
        """The task, unless unknown or past the task lifetime (then DashScope has forgotten it)."""
        task = self._tasks.get(task_id)
        if task is None or task.expired(self.now(), self._config.task_ttl_seconds):
            return None
        return task

    def by_gateway_id(self, dialect: str, gateway_id: str) -> SimTask | None:
        """The task a gateway dialect knows by ``gateway_id``."""
        task_id = self._gateway_ids.get((dialect, gateway_id))
        return self._tasks.get(task_id) if task_id else None

    def create(
        self,
        plan: SubmitPlan,
        api_key: str,
        *,
        via: str,
        failure: tuple[str, str] | None,
        gateway_id: str | None = None,
    ) -> SimTask:
        """A new task, queued and run for the configured times (each spread by the jitter)."""
        cfg, now = self._config, self.now()

        def spread(seconds: float) -> float:
            return max(0.0, seconds * self._random.uniform(1 - cfg.jitter, 1 + cfg.jitter))

        queue, run = spread(cfg.queue_seconds), spread(cfg.run_seconds)
        task = SimTask(
            task_id=new_id(),
            request_id=new_id(),
            plan=plan,
            api_key=api_key,
            submitted_at=now,
            scheduled_at=now + queue,
            ends_at=now + queue + run,
            failure=failure,
            via=via,
            gateway_id=gateway_id,
        )
        if gateway_id is not None:
            self._gateway_ids[(via, gateway_id)] = task.task_id
        self._tasks[task.task_id] = task
        return task

    def fail(self, task_id: str, code: str, message: str) -> None:
        """This task, still PENDING or RUNNING, ends FAILED. KeyError: unknown; ValueError: already ended."""
        task = self._tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        state = task.state(self.now())
        if state not in (PENDING, RUNNING):
            raise ValueError(f"task {task_id} is already {state}")
        task.failure = (code, message)
