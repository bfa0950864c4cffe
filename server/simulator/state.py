"""What every request handler reaches (``SimState``): settings, tasks and clock, faults, counters, renders, uploads,
keys."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from wan_video_mcp.server.simulator.config import HOST, SimulatorConfig
from wan_video_mcp.server.simulator.faults import Faults
from wan_video_mcp.server.simulator.http import Request
from wan_video_mcp.server.simulator.media import MediaInputs
from wan_video_mcp.server.simulator.renders import Renders
from wan_video_mcp.server.simulator.stats import Stats
from wan_video_mcp.server.simulator.tasks import SUCCEEDED, SimTask, TaskStore
from wan_video_mcp.server.simulator.uploads import UploadStore
from wan_video_mcp.server.simulator.validation import SubmitPlan


def sign(secret: bytes, task_id: str, expires: int) -> str:
    """The signature of a result URL (OSS style: base64 HMAC-SHA1)."""
    return base64.b64encode(hmac.new(secret, f"{task_id}\n{expires}".encode(), hashlib.sha1).digest()).decode()


class KeyProblem(enum.Enum):
    """Why a request's API key is refused; each dialect words the 401 its own way."""

    MISSING = "missing"  # no ``Authorization: Bearer <key>``
    WRONG = "wrong"  # not the configured ``required_key``


@dataclass
class SimState:
    """The simulator's state, shared by the handlers of every dialect."""

    config: SimulatorConfig
    tasks: TaskStore
    faults: Faults
    stats: Stats
    renders: Renders
    uploads: UploadStore  # temporary uploads (oss://): policies and objects
    inputs: MediaInputs | None = None  # reads each new task's input URLs (None: none are read)
    port: int = 0
    secret: bytes = field(default_factory=lambda: uuid.uuid4().bytes)  # signs result URLs (and upload policies)

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/v1"

    def now(self) -> float:
        return self.tasks.now()

    def api_key(self, req: Request) -> str | KeyProblem:
        """The request's key (every dialect needs ``Authorization: Bearer``), or why it is refused."""
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return KeyProblem.MISSING
        if self.config.required_key is not None and key != self.config.required_key:
            return KeyProblem.WRONG
        return key

    def create_task(self, plan: SubmitPlan, api_key: str, *, via: str, gateway_id: str | None = None) -> SimTask:
        """A task for an accepted submit; it fails if ``fail_next_task`` was armed, or if the plan says it will
        (wan3.0's mode conflict), or if its inputs cannot be read."""
        failure = self.faults.take_task_failure() or plan.failure
        task = self.tasks.create(plan, api_key, via=via, failure=failure, gateway_id=gateway_id)
        self.stats.submits_accepted += 1
        if self.inputs is not None:
            self.inputs.start(task)
        return task

    def video_url(self, task: SimTask) -> str:
        """The task's signed result URL; it expires ``url_ttl_seconds`` after the task ended."""
        expires = int(task.ends_at + self.config.url_ttl_seconds)
        signature = quote(sign(self.secret, task.task_id, expires), safe="")
        return (
            f"{self.root_url}/results/{task.task_id}.mp4?Expires={expires}"
            f"&OSSAccessKeyId=SIMULATED&Signature={signature}"
        )

    def result_url(self, task: SimTask, now: float) -> str | None:
        """The signed video URL of a SUCCEEDED task (its rendering starts now, so the first download is quick)."""
        if task.state(now) != SUCCEEDED:
            return None
        self.renders.start(task)
        return self.video_url(task)
