"""Storyboards: several shots, each a durable task paid once, made one after another or side by side, then joined.

``Storyboards.create`` validates and prices every shot before anything is paid (one budget check for the whole),
persists the storyboard and starts its runner. A runner submits each shot through the engine with the idempotency
key ``{storyboard}:{shot}:{attempt}``, so a runner started again after a crash (``resume``, at engine start)
attaches to the shots already submitted instead of paying again. Continuity:

- ``none``: every shot at once;
- ``last_frame``: each shot starts from the previous shot's last frame (on the image-to-video model of the
  storyboard's generation);
- ``clip``: each shot continues the previous shot's video as wan2.7-i2v's ``first_clip``, so its output holds
  everything before it: the last shot's video is the storyboard's (no join), and each shot's duration is the
  running total.

When every shot has succeeded and its video is saved, the videos are joined into ``videos/{storyboard}.mp4``
(``server.media.join``). A failed shot fails the storyboard, naming it; ``retry`` saves the finished shots' videos
and makes again only the shots that failed or whose video is lost (a new attempt, a new key), then goes on. The
rules of what a shot is and what a retry remakes are in ``shots``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_video_mcp.server.catalog import ValidatedCall, estimate_cost
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.server.errors import InvalidRequest, VideoUnavailable, WanError
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.shots import (
    PLACEHOLDER,
    RetryPlan,
    plan_storyboard,
    retry_outlook,
)
from wan_video_mcp.server.jobs.storyboard_runner import StoryboardRunner
from wan_video_mcp.server.store import LOCAL_PRINCIPAL, StoryboardRecord, TaskRecord, new_storyboard_id

if TYPE_CHECKING:
    from wan_video_mcp.server.jobs.engine import JobEngine

__all__ = ["Storyboards"]

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 5  # a shot's video is given up on after this many failed downloads (or one that cannot work)
CHECK_SECONDS = 2.0  # how often a runner rereads its shots (it also wakes on their changes)
LEASE_SECONDS = 60.0  # a runner's hold on its storyboard, renewed every round (a dead process's lapses sooner)
MEASURE_TIMEOUT = 10.0


class Storyboards:
    """Creates storyboards and runs them to their joined video."""

    def __init__(self, ctx: EngineContext, engine: JobEngine) -> None:
        self._ctx = ctx
        self._engine = engine
        self._runner = StoryboardRunner(ctx, engine, self)

    # ------------------------------------------------------------------ create

    def plan(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValidatedCall]]:
        """``plan_storyboard`` against the models offered here."""
        return plan_storyboard(arguments, tuple(self._ctx.models.values()))

    async def check(
        self, arguments: Mapping[str, Any], principal: str = LOCAL_PRINCIPAL
    ) -> tuple[dict[str, Any], list[ValidatedCall]]:
        """``plan``, and then what generate_video checks before paying that needs the inputs themselves: each
        shot's local files read and remote media measured (what earlier shots will make is skipped), and PyAV
        there when shots are to be joined. Problems are named ``shots[i].<field>``."""
        request, calls = self.plan(arguments)
        if request["continuity"] != "clip" and importlib.util.find_spec("av") is None:
            raise InvalidRequest(
                "joining shots needs PyAV, which this installation lacks: install wan-video-mcp[video], or use "
                "continuity clip (its last shot holds every one before it)",
                field="continuity",
            )
        placeholder = {f"wan-video://videos/{PLACEHOLDER}.mp4"}
        checked = []
        for index, call in enumerate(calls):
            try:
                shot, local = await self._engine.read_inputs(call.request, skip=placeholder, principal=principal)
                urls = urls_to_measure(shot)
                facts = await self._engine.measure(urls, timeout=MEASURE_TIMEOUT, at_once=4) if urls else {}
                shot = apply_measurements(shot, {**facts, **local})
            except InvalidRequest as exc:
                field = f"shots[{index}].{exc.field}" if exc.field else f"shots[{index}]"
                raise InvalidRequest(f"shot {index}: {exc.message}", field=field) from None
            checked.append(call.model_copy(update={"request": shot}))
        return request, checked

    async def create(
        self,
        arguments: Mapping[str, Any],
        idempotency_key: str | None = None,
        *,
        force_new: bool = False,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[StoryboardRecord, float, str]:
        """Validate, price and persist a storyboard, then start it: the record, its estimated total (USD) and how
        it was found: ``new``, or an earlier one of the same key (``idempotency_key``) or the same request within
        the dedupe window (``duplicate``; not with ``force_new``), which is returned as it is and paid nothing more."""
        request, calls = await self.check(arguments, principal)
        amounts = [(cost.amount_max_usd or cost.amount_usd) for cost in (estimate_cost(c.request) for c in calls)]
        total = sum(amounts)
        ctx, now = self._ctx, self._ctx.clock()
        request_json = json.dumps(request, separators=(",", ":"))
        # The request with each shot's inputs by their bytes: the same storyboard however its files are named.
        shots = [call.request.fingerprint() for call in calls]
        fingerprint = hashlib.sha256(json.dumps([request["continuity"], shots]).encode()).hexdigest()
        record = StoryboardRecord(
            id=new_storyboard_id(),
            created_at=now,
            updated_at=now,
            request_json=request_json,
            state="running",
            shots_json=json.dumps([{"task_id": None, "attempt": 0} for _ in calls]),
            endpoint=ctx.endpoint,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            principal=principal,
        )
        window = ctx.settings.dedupe_window_seconds
        since = now - window if window > 0 and not force_new else None
        found = await ctx.store.run(ctx.store.repeated_storyboard_sync, record, since)
        if found is None:
            # Before anything is paid: each shot against the per-task cap, the whole against the daily one.
            await self._engine.submitter.admissible_amount(total, each=max(amounts), principal=principal)
            found = await ctx.store.run(ctx.store.create_storyboard_sync, record, since)
        earlier, how = found
        if how == "idempotency_key" and earlier.request_json != request_json:
            raise InvalidRequest(
                f"idempotency_key '{idempotency_key}' was already used for a different storyboard ({earlier.id}); "
                "use a new key for new shots",
                field="idempotency_key",
            )
        if earlier.open:
            self.start(earlier.id)
        return earlier, total, how

    def start(self, storyboard_id: str) -> None:
        self._runner.start(storyboard_id)

    async def resume(self) -> int:
        """Start a runner for every storyboard not ended (``StoryboardRunner.resume``)."""
        return await self._runner.resume()

    async def recent(
        self, states: Sequence[str] | None, limit: int, principal: str = LOCAL_PRINCIPAL
    ) -> list[StoryboardRecord]:
        """The principal's storyboards, newest first (only those in ``states`` when given)."""
        store = self._ctx.store
        return await store.run(store.list_storyboards_sync, states, limit, principal)

    async def get(self, storyboard_id: str, principal: str | None = None) -> StoryboardRecord | None:
        """A storyboard (with ``principal``: only theirs; another's is None, as an unknown one)."""
        store = self._ctx.store
        record = await store.run(store.get_storyboard_sync, storyboard_id)
        return record if record is not None and principal in (None, record.principal) else None

    async def shot_tasks(self, record: StoryboardRecord) -> list[TaskRecord | None]:
        found: list[TaskRecord | None] = []
        for shot in record.shots:
            found.append(await self._ctx.store.get(shot["task_id"]) if shot and shot.get("task_id") else None)
        return found

    def joined_file(self, record: StoryboardRecord) -> Path | None:
        """The storyboard's joined MP4 when it is on disk as recorded."""
        if record.state != "succeeded" or not record.local_path:
            return None
        path = Path(record.local_path)
        try:
            return path if path.stat().st_size == record.file_size else None
        except OSError:
            return None

    def shot_costs(self, record: StoryboardRecord) -> list[float]:
        """Each shot's estimated price (at most), as the storyboard was priced before anything was paid."""
        _, calls = plan_storyboard(record.request, tuple(self._ctx.models.values()))
        return [(cost.amount_max_usd or cost.amount_usd) for cost in (estimate_cost(c.request) for c in calls)]

    def outlook(
        self, record: StoryboardRecord, tasks: Sequence[TaskRecord | None], lost: Collection[int] = ()
    ) -> RetryPlan:
        """What a retry of ``record`` would do, as its shots stand now (nothing is downloaded to tell)."""
        saved = [t is not None and self._engine.local_file(t) is not None for t in tasks]
        return retry_outlook(record, tasks, saved, self.shot_costs(record), self._ctx.clock(), lost)

    async def retry_plan(
        self, storyboard_id: str, index: int, *, save: bool = True, principal: str = LOCAL_PRINCIPAL
    ) -> RetryPlan:
        """What ``retry`` would do. With ``save``, the finished shots whose videos are not saved are saved first
        (a paid video is never made again while it can still be downloaded): a shot is made again only when it
        failed, or its video is lost for good (its URL expired, or the download says it is gone). Without, as far as
        the shots tell (a dry run)."""
        record = await self.get(storyboard_id, principal)
        if record is None:
            raise InvalidRequest(f"no storyboard '{storyboard_id}' here", field="storyboard_id")
        if not 0 <= index < len(record.shots):
            raise InvalidRequest(f"storyboard {record.id} has shots 0..{len(record.shots) - 1}", field="retry_shot")
        lost_join = record.state == "succeeded" and self.joined_file(record) is None
        if record.state != "failed" and not lost_join:
            raise InvalidRequest(f"storyboard {record.id} is {record.state}: nothing to retry", field="retry_shot")
        tasks = await self.shot_tasks(record)
        lost: set[int] = set()
        for i, task in enumerate(tasks):
            if save and task is not None and task.state == "succeeded" and self._engine.local_file(task) is None:
                try:
                    tasks[i] = await self._engine.ensure_downloaded(task.id)
                except VideoUnavailable:  # the provider's URL expired (or gave none): made again
                    lost.add(i)
                except WanError as exc:  # a problem here (a full disk, the address policy) or for now: not paid
                    raise WanError(
                        f"the video of shot {i} ({task.id}) cannot be saved: {exc.message}. Nothing was made again"
                        + ("; call again in a minute (it is downloaded, not paid again)" if exc.retryable else ""),
                        code=exc.code,
                        retryable=exc.retryable,
                        hint=exc.hint,
                    ) from None
        plan = self.outlook(record, tasks, lost)
        if plan.shots and index not in plan.shots:
            state = tasks[index].state if tasks[index] is not None else "not submitted"  # type: ignore[union-attr]
            raise InvalidRequest(
                f"shot {index} is {state}: nothing to make again there; the retry {plan.describe()} "
                f"(retry_shot={plan.shots[0]})",
                field="retry_shot",
            )
        return plan

    async def retry(self, storyboard_id: str, index: int, principal: str = LOCAL_PRINCIPAL) -> RetryPlan:
        """Go on with a failed storyboard: each shot that failed (or whose video is lost) is made again as a new
        attempt (a new key, never attached to the old one), those never submitted are submitted, and the others are
        kept, not paid again. With nothing to make, the shots are joined again."""
        plan = await self.retry_plan(storyboard_id, index, principal=principal)
        record = plan.record
        entries = {i: {"task_id": None, "attempt": (record.shots[i] or {}).get("attempt", 0) + 1} for i in plan.remake}
        changes: dict[str, Any] = {"state": "running", "error": None}
        if record.state == "succeeded":  # its joined file is gone: joined again from the saved shots
            changes |= {"local_path": None, "file_size": None, "sha256": None, "seconds": None, "join_method": None}
        store = self._ctx.store
        now = self._ctx.clock()
        restarted = await store.run(store.set_shots_sync, record.id, now, entries, expect_state=record.state, **changes)
        if restarted is None:
            raise WanError(
                f"storyboard {record.id} changed while this retry was made (another retry?); nothing was made "
                "again here: call check_task on it",
                code="conflict",
                retryable=True,
            )
        self.start(record.id)
        return plan
