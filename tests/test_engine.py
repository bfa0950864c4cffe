"""JobEngine behaviour against an in-memory fake provider and a real SQLite file.

The fake keeps its own record of every task it "created" (and so billed), which
is how these tests assert that a logical request was paid for exactly once.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import pytest

from tests.test_downloads import _real_mp4
from wan_video_mcp.server.catalog import MODELS, validate
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import BudgetExceeded, InvalidRequest, NotConfigured, ProviderError, VideoUnavailable
from wan_video_mcp.server.jobs import JobEngine
from wan_video_mcp.server.jobs.downloads import AddressPolicy
from wan_video_mcp.server.providers.base import RemoteStatus, RemoteTask
from wan_video_mcp.server.store import TaskRecord, TaskStore

pytestmark = pytest.mark.anyio

VIDEO = _real_mp4()  # the engine saves nothing that is not a playable MP4


async def _public_dns(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # files.test is "public"; no test asks a real DNS server


class Crash(BaseException):
    """Stands in for the process dying at an exact point."""


@dataclass
class FakeProvider:
    name: str = "fake"
    tasks: dict[str, dict] = field(default_factory=dict)  # remote id -> {"state", "model", "submitted"}
    submit_calls: int = 0
    submit_errors: list[ProviderError] = field(default_factory=list)
    crash_after_submit: bool = False
    poll_errors: list[ProviderError] = field(default_factory=list)
    has_list: bool = True
    lists: int = 0
    url: str = "http://files.test/v.mp4?Expires=9999999999"

    def offers(self, model: str) -> bool:
        return True

    async def submit(self, request) -> RemoteTask:
        self.submit_calls += 1
        if self.submit_errors:
            error = self.submit_errors.pop(0)
            if error.created is None:  # the request reached the service before the failure
                self._create(request.model, request.prompt)
            raise error
        remote_id = self._create(request.model, request.prompt)
        if self.crash_after_submit:
            raise Crash()
        return RemoteTask(remote_id, RemoteStatus(remote_id, "queued"))

    def _create(self, model: str, prompt: str | None = None) -> str:
        remote_id = str(uuid.uuid4())
        self.tasks[remote_id] = {"state": "queued", "model": model, "submitted": datetime.now(UTC), "prompt": prompt}
        return remote_id

    def finish(self, remote_id: str | None = None, state: str = "succeeded", **extra: str) -> None:
        for rid in [remote_id] if remote_id else list(self.tasks):
            self.tasks[rid] |= {"state": state, **extra}

    async def poll(self, remote_id: str) -> RemoteStatus:
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        task = self.tasks.get(remote_id)
        if task is None:
            return RemoteStatus(remote_id, "expired")
        done = task["state"] == "succeeded"
        # Like DashScope: the original prompt is repeated once the task has succeeded.
        return RemoteStatus(
            remote_id,
            task["state"],
            video_url=self.url if done else None,
            error_code=task.get("code"),
            error_message=task.get("message"),
            prompt=task.get("prompt") if done else None,
            submitted_at=task["submitted"],
        )

    async def cancel(self, remote_id: str) -> None:
        self.tasks[remote_id]["state"] = "canceled"

    async def list_recent(
        self, since: datetime, until: datetime | None = None, pace: object = None
    ) -> list[RemoteStatus] | None:
        self.lists += 1
        if not self.has_list:
            return None
        return [
            RemoteStatus(rid, t["state"], model=t["model"], submitted_at=t["submitted"])
            for rid, t in self.tasks.items()
        ]

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        return status.video_url or "", {}


def settings_for(tmp_path: Path, **overrides) -> Settings:
    values = dict(
        data_dir=tmp_path,
        poll_min_seconds=0.02,
        poll_max_seconds=0.1,
        poll_qps=1000,
        reconcile_interval_seconds=0.1,
        retry_base_seconds=0.01,
        dedupe_window_seconds=600,
    )
    return Settings(**(values | overrides))


def file_server(requests: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=VIDEO, headers={"Content-Length": str(len(VIDEO))})

    return httpx.MockTransport(handler)


@asynccontextmanager
async def running_engine(
    tmp_path: Path, provider: FakeProvider, clock=time.time, **overrides
) -> AsyncIterator[JobEngine]:
    settings = settings_for(tmp_path, **overrides)
    store = TaskStore(settings.db_path)
    downloads: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=file_server(downloads)) as client:
        engine = JobEngine(
            store=store,
            provider=provider,
            client=client,
            settings=settings,
            endpoint="fake",
            models=MODELS,
            key_configured=overrides.get("key", True) is not False,
            address_policy=AddressPolicy(resolve=_public_dns),
            clock=clock,
        )
        engine.download_requests = downloads  # type: ignore[attr-defined]
        async with anyio.create_task_group() as tg:
            await engine.start(tg)
            try:
                yield engine
            finally:
                tg.cancel_scope.cancel()
    store.close()


def call(**arguments):
    # The engine's tests price in wan2.6-t2v's list prices ($0.10/s at 720P): it is named, not the default.
    return validate({"model": "wan2.6-t2v", "prompt": "a red fox in the snow", "wait_seconds": 0} | arguments)


async def settle(engine: JobEngine, task_id: str, timeout: float = 5.0):
    with anyio.fail_after(timeout):
        return await engine.wait(task_id, timeout)


async def test_the_row_is_written_before_the_paid_call(tmp_path):
    seen_states = []

    class Watching(FakeProvider):
        async def submit(self, request):
            rows = engine.store.list_sync(None, 10)
            seen_states.extend(row.state for row in rows)
            return await super().submit(request)

    provider = Watching()
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
    assert seen_states == ["submitting"]
    assert outcome.record.state == "queued" and outcome.record.remote_id in provider.tasks


async def test_a_finished_task_is_downloaded_without_anyone_asking(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        provider.finish()
        record = await settle(engine, outcome.record.id)
    assert record.state == "succeeded" and record.download_state == "downloaded"
    assert Path(record.local_path).read_bytes() == VIDEO
    assert record.sha256 == hashlib.sha256(VIDEO).hexdigest() and record.file_size == len(VIDEO)


async def test_a_client_retry_of_the_same_call_attaches_instead_of_paying_again(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider) as engine:
        first = await engine.submit(call())
        second = await engine.submit(call())
        forced = await engine.submit(call(force_new=True))
    assert (first.attached, second.attached, forced.attached) == ("new", "duplicate", "new")
    assert second.record.id == first.record.id and forced.record.id != first.record.id
    assert provider.submit_calls == 2


async def test_concurrent_identical_calls_submit_once(tmp_path):
    provider = FakeProvider()
    outcomes = []
    async with running_engine(tmp_path, provider) as engine:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: _append(outcomes, engine.submit(call())))
    assert provider.submit_calls == 1
    assert len({o.record.id for o in outcomes}) == 1


async def _append(items, awaitable):
    items.append(await awaitable)


async def test_a_repeated_idempotency_key_returns_its_task_and_a_reused_key_with_new_parameters_is_refused(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider, dedupe_window_seconds=0) as engine:
        first = await engine.submit(call(idempotency_key="job-1"))
        again = await engine.submit(call(idempotency_key="job-1"))
        with pytest.raises(InvalidRequest) as excinfo:
            await engine.submit(call(idempotency_key="job-1", duration=6))
    assert again.attached == "idempotency_key" and again.record.id == first.record.id
    assert excinfo.value.field == "idempotency_key"
    assert provider.submit_calls == 1


async def test_a_429_then_success_creates_exactly_one_task(tmp_path):
    provider = FakeProvider(
        submit_errors=[
            ProviderError(
                "throttled",
                provider_code="Throttling",
                http_status=429,
                retryable=True,
                created=False,
                retry_after=0.05,
            ),
        ]
    )
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
    assert outcome.record.state == "queued"
    assert outcome.record.submit_attempts == 2
    assert len(provider.tasks) == 1


async def test_a_refused_submit_is_recorded_as_failed_and_reported(tmp_path):
    provider = FakeProvider(
        submit_errors=[
            ProviderError("bad key", provider_code="InvalidApiKey", http_status=401, retryable=False, created=False),
        ]
    )
    async with running_engine(tmp_path, provider) as engine:
        with pytest.raises(ProviderError):
            await engine.submit(call())
        [record] = await engine.list(None, 10)
    assert record.state == "failed" and record.error_code == "InvalidApiKey"
    assert provider.tasks == {}


async def test_a_timeout_after_sending_is_reconciled_from_the_task_list_never_resent(tmp_path):
    provider = FakeProvider(
        submit_errors=[
            ProviderError("read timeout", retryable=False, created=None),
        ]
    )
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        assert outcome.record.state == "unknown"
        provider.finish()
        record = await settle(engine, outcome.record.id)
    assert provider.submit_calls == 1 and len(provider.tasks) == 1
    assert record.remote_id in provider.tasks
    assert record.state == "succeeded" and record.download_state == "downloaded"


async def test_a_crash_right_after_the_submit_returns_still_recovers_the_remote_task(tmp_path):
    provider = FakeProvider(crash_after_submit=True)
    with pytest.RaisesGroup(Crash):
        async with running_engine(tmp_path, provider) as engine:
            await engine.submit(call())
    [remote_id] = provider.tasks
    provider.crash_after_submit = False
    provider.finish()
    async with running_engine(tmp_path, provider) as engine:
        [record] = await engine.list(None, 10)
        record = await settle(engine, record.id)
    assert record.remote_id == remote_id and record.state == "succeeded"
    assert provider.submit_calls == 1


async def test_a_crash_before_the_submit_stays_unconfirmed_and_is_never_called_uncharged_or_resent(tmp_path):
    provider = FakeProvider()

    class CrashBefore(FakeProvider):
        async def submit(self, request):
            raise Crash()

    with pytest.RaisesGroup(Crash):
        async with running_engine(tmp_path, CrashBefore()) as engine:
            await engine.submit(call())
    async with running_engine(tmp_path, provider) as engine:
        with anyio.fail_after(10):
            while provider.lists < 3:  # three looks at the task list, and nothing there
                await anyio.sleep(0.02)
        [record] = await engine.list(None, 10)
    assert record.state == "unknown" and "not confirmed" in record.error_message
    assert "charged" not in record.error_message
    # Only once the provider's task lifetime has passed does it end, still without a guess about money.
    # (24 hours, plus the 2 hours of clock difference assumed while none has been measured.)
    async with running_engine(tmp_path, provider, clock=lambda: time.time() + 27 * 3600) as engine:
        record = await settle(engine, record.id)
    assert record.state == "failed" and record.error_code == "not_confirmed"
    assert "not known" in record.error_message and "nothing was charged" not in record.error_message
    assert provider.submit_calls == 0


async def test_without_a_task_list_an_unknown_submit_stays_unknown_and_is_not_resent(tmp_path):
    provider = FakeProvider(has_list=False, submit_errors=[ProviderError("reset", created=None)])
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        record = outcome.record
        with anyio.fail_after(2):
            while "no task list" not in ((await engine.get(record.id)).error_message or ""):
                await anyio.sleep(0.02)
        record = await engine.get(record.id)
    assert record.state == "unknown" and provider.submit_calls == 1


async def test_poll_errors_are_retried_and_the_task_still_completes(tmp_path):
    provider = FakeProvider(
        poll_errors=[
            ProviderError("busy", http_status=503, retryable=True, retry_after=0.01),
            ProviderError("reset", retryable=True),
        ]
    )
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        provider.finish()
        record = await settle(engine, outcome.record.id)
    assert record.state == "succeeded"


async def test_a_failed_task_carries_the_provider_code_and_message(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        provider.finish(state="failed", code="DataInspectionFailed", message="flagged")
        record = await settle(engine, outcome.record.id)
    assert (record.state, record.error_code, record.error_message) == ("failed", "DataInspectionFailed", "flagged")


async def test_cancelling_a_wait_leaves_the_task_tracked_and_unpaid_twice(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        with anyio.move_on_after(0.1):
            await engine.wait(outcome.record.id, 30)
        provider.finish()
        record = await settle(engine, outcome.record.id)
    assert record.state == "succeeded" and provider.submit_calls == 1


async def test_the_per_task_and_daily_caps_refuse_before_anything_is_written(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider, max_cost_per_task_usd=0.5, max_cost_per_day_usd=1.0) as engine:
        with pytest.raises(BudgetExceeded, match="per-task cap"):
            await engine.submit(call(duration=10, size="1920*1080"))
        await engine.submit(call(duration=4, size="1280*720"))  # $0.40
        await engine.submit(call(duration=5, size="1280*720", seed=1))  # $0.50
        with pytest.raises(BudgetExceeded, match="daily"):
            await engine.submit(call(duration=2, size="1280*720", seed=2))  # $0.20 more would pass $1.00
        rows = await engine.list(None, 10)
    assert len(rows) == 2 and provider.submit_calls == 2


async def test_without_a_key_nothing_is_submitted_and_the_message_names_the_variable(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider, key=False) as engine:
        with pytest.raises(NotConfigured, match="DASHSCOPE_API_KEY"):
            await engine.submit(call())
    assert provider.submit_calls == 0


async def test_an_expired_url_with_no_local_copy_is_a_clear_error(tmp_path):
    provider = FakeProvider(url="http://files.test/v.mp4?Expires=1000")
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        provider.finish()
        record = await settle(engine, outcome.record.id)
        with pytest.raises(VideoUnavailable, match="expired"):
            await engine.ensure_downloaded(record.id)
    assert record.download_state == "download_failed"


async def test_a_provider_task_id_never_seen_is_adopted(tmp_path):
    provider = FakeProvider()
    remote_id = provider._create("wan2.6-t2v")
    provider.finish(remote_id)
    async with running_engine(tmp_path, provider) as engine:
        record = await engine.get_or_adopt(remote_id)
        record = await settle(engine, record.id)
        again = await engine.get_or_adopt(remote_id)
    assert record.adopted and record.remote_id == remote_id and record.state == "succeeded"
    assert again.id == record.id and provider.submit_calls == 0


async def test_cancel_stops_a_queued_task(tmp_path):
    provider = FakeProvider()
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call())
        record = await engine.cancel(outcome.record.id)
    assert record.state == "canceled"


async def test_the_first_poll_comes_at_a_tenth_of_the_expected_render_and_gaps_grow_with_the_wait(tmp_path):
    settings = settings_for(tmp_path, poll_min_seconds=1.0, poll_max_seconds=30.0)
    store = TaskStore(settings.db_path)
    async with httpx.AsyncClient() as client:
        engine = JobEngine(
            store=store, provider=FakeProvider(), client=client, settings=settings, endpoint="fake", models=MODELS
        )
        outcome_request = call(duration=5).request
        record = TaskRecord(
            id="wan_x",
            created_at=1000.0,
            updated_at=1000.0,
            provider="fake",
            endpoint="fake",
            model=outcome_request.model,
            request_json=outcome_request.model_dump_json(),
            fingerprint="f",
            state="queued",
            submitted_at=1000.0,
        )
        expected = engine.schedule.expected_seconds(record)
        times, now = [], 1000.0
        while now - 1000.0 < expected:
            now += engine.schedule.interval(record, now)
            times.append(now - 1000.0)
    store.close()
    assert times[0] == pytest.approx(0.1 * expected)  # a task that is done early is seen early
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert max(gaps) <= 0.25 * expected + 1e-9
    assert gaps[1] >= gaps[0] and len(times) <= 15  # sparse through the bulk of the render


async def test_another_clients_task_on_the_same_model_is_never_taken_for_an_unconfirmed_one(tmp_path):
    # Our submit's outcome is unclear and it in fact created nothing; someone else using the same key has
    # a task on the same model at the same time. Nothing says it is ours, so it is never adopted.
    class NothingCreated(FakeProvider):
        async def submit(self, request):
            self.submit_calls += 1
            raise ProviderError("reset after sending", created=None)

    provider = NothingCreated()
    foreign = provider._create("wan2.6-t2v", "somebody else's harbour at dusk")
    async with running_engine(tmp_path, provider) as engine:
        outcome = await engine.submit(call(model="wan2.6-t2v"))
        with anyio.fail_after(10):
            while provider.lists < 3:
                await anyio.sleep(0.02)
        provider.finish(foreign)  # now it repeats its prompt: a different one
        seen = provider.lists
        with anyio.fail_after(10):
            while provider.lists < seen + 3:
                await anyio.sleep(0.02)
        record = await engine.get(outcome.record.id)
    assert record.state == "unknown" and record.remote_id is None
    assert "charged" not in (record.error_message or "")


def test_a_listed_task_whose_billed_ratio_or_tier_differs_is_not_ours():
    from wan_video_mcp.server.jobs.reconcile import same_request
    from wan_video_mcp.server.providers.base import RemoteStatus

    request = {"prompt": "a fox", "duration": 5, "resolution": "720P", "ratio": "9:16"}

    def billed(**usage: object) -> RemoteStatus:
        return RemoteStatus(remote_id="t", state="succeeded", prompt="a fox", usage=usage)

    assert same_request(request, billed(output_video_duration=5, SR=720, ratio="9:16"))
    assert not same_request(request, billed(output_video_duration=5, SR=720, ratio="16:9"))
    assert not same_request(request, billed(output_video_duration=5, SR=1080, ratio="9:16"))
    assert not same_request(request, billed(output_video_duration=10, SR=720, ratio="9:16"))
    assert same_request(request, billed(output_video_duration=5.02, SR=720, ratio="9:16"))
    # A length or an aspect the model chose cannot contradict the request.
    for chosen in ({"duration": -1, "ratio": "adaptive"}, {"duration": 0}):
        assert same_request(
            request | chosen, billed(output_video_duration=7.4, SR=720, ratio="16:9" if "ratio" in chosen else "9:16")
        )
