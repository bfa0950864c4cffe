"""Local inputs through the real server in memory (the SDK's client) against the simulator on 127.0.0.1: what a dry
run reads, when an upload is reused or made again, the upload's own failures, and the regions without one."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
from mcp import Client
from pydantic import SecretStr

from tests.media_files import RED, png
from tests.simulated import served
from tests.stdio_server import text_of
from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.catalog import validate
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.human import local_files
from wan_video_mcp.server.jobs.engine import JobEngine
from wan_video_mcp.server.providers.dashscope import DashScopeProvider
from wan_video_mcp.server.providers.dashscope.upload import TemporaryUploads
from wan_video_mcp.server.providers.newapi import NewApiProvider

pytestmark = pytest.mark.anyio


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "a.png").write_bytes(png(320, 240, RED))
    return folder


def frame(url: str, **extra: Any) -> dict[str, Any]:
    return {"model": "wan2.7-i2v", "media": [{"type": "first_frame", "url": url}], "wait_seconds": 0} | extra


async def test_a_dry_run_reads_and_checks_a_local_file_and_uploads_nothing(tmp_path: Path, roots: Path) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        result = await client.call_tool("generate_video", frame(str(roots / "a.png"), dry_run=True))
    assert not result.is_error, text_of(result)
    assert f"Local input(s) read and checked: {roots / 'a.png'}" in text_of(result)
    assert (len(sim.uploads), sim.stats.policies, sim.stats.submits) == (0, 0, 0)


async def test_an_idempotency_key_returns_its_task_even_after_the_local_file_is_gone(
    tmp_path: Path, roots: Path
) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        first = await client.call_tool("generate_video", frame(str(roots / "a.png"), idempotency_key="k-1"))
        (roots / "a.png").unlink()
        again = await client.call_tool("generate_video", frame(str(roots / "a.png"), idempotency_key="k-1"))
    assert not again.is_error, text_of(again)
    assert (again.structured_content or {})["task_id"] == (first.structured_content or {})["task_id"]
    assert (len(sim.uploads), sim.stats.submits) == (1, 1)


async def test_a_file_changed_since_is_new_bytes_a_new_upload_and_a_new_task(tmp_path: Path, roots: Path) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        first = await client.call_tool("generate_video", frame(str(roots / "a.png")))
        (roots / "a.png").write_bytes(png(320, 256, RED))
        second = await client.call_tool("generate_video", frame(str(roots / "a.png")))
        same = await client.call_tool("generate_video", frame((roots / "a.png").as_uri()))
    ids = [(r.structured_content or {}).get("task_id") for r in (first, second, same)]
    # The same bytes under another name are the same request: it attaches instead of paying twice.
    assert (ids[0] != ids[1], ids[1] == ids[2], "identical request" in text_of(same)) == (True, True, True)
    assert (len(sim.uploads), sim.stats.submits) == (2, 2)


async def test_an_upload_close_to_its_end_is_made_again_and_a_fresh_one_is_reused(tmp_path: Path, roots: Path) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, settings):
        await client.call_tool("generate_video", frame(str(roots / "a.png"), prompt="one"))
        await client.call_tool("generate_video", frame(str(roots / "a.png"), prompt="two"))
        assert len(sim.uploads) == 1
        with sqlite3.connect(settings.db_path) as db:  # the provider would delete it within the hour
            db.execute("UPDATE uploads SET expires_at = ?", (time.time() + 3600,))
        db.close()
        await client.call_tool("generate_video", frame(str(roots / "a.png"), prompt="three"))
    assert (len(sim.uploads), sim.stats.submits) == (2, 3)


async def test_an_expired_policy_is_fetched_again_and_a_rate_refusal_waited_out(tmp_path: Path, roots: Path) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        sim.faults.policy(429, retry_after=0)
        sim.faults.upload("expired")
        result = await client.call_tool("generate_video", frame(str(roots / "a.png")))
    assert not result.is_error, text_of(result)
    assert (sim.stats.policies, len(sim.uploads), sim.stats.submits_accepted) == (2, 1, 1)


async def test_an_upload_the_storage_refuses_is_an_error_naming_the_field_and_nothing_is_submitted(
    tmp_path: Path, roots: Path
) -> None:
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        sim.faults.upload(503, count=10)
        result = await client.call_tool("generate_video", frame(str(roots / "a.png")))
    assert result.is_error
    assert "media[0].url: the upload of" in text_of(result) and "nothing was submitted" in text_of(result)
    assert (len(sim.uploads), sim.stats.submits) == (0, 0)


@pytest.mark.parametrize("model", ["wan2.6-i2v", "wan3.0-video"])
async def test_a_region_whose_keys_have_no_documented_upload_says_so_before_any_request(
    tmp_path: Path, roots: Path, model: str
) -> None:
    # Virginia's default host: no request is made (the address would be the real service), the refusal says why.
    settings = Settings(
        provider="dashscope",
        api_key=SecretStr("sk-test"),
        region="us",
        data_dir=tmp_path / "data",
        media_roots=(roots,),
    )
    if model == "wan2.6-i2v":
        arguments: dict[str, Any] = {"model": model, "prompt": "p", "img_url": str(roots / "a.png")}
        field = "img_url"
    else:
        arguments, field = frame(str(roots / "a.png"), model=model, prompt="p"), "media[0].url"
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_video", arguments | {"dry_run": True})
    assert result.is_error
    assert (result.structured_content or {}).get("field") == field
    assert "region 'us'" in text_of(result) and "Beijing" in text_of(result), text_of(result)


async def test_an_upload_is_bound_to_the_name_the_submit_sends_in_the_region(tmp_path: Path, roots: Path) -> None:
    # Beijing calls wan2.1-i2v-turbo "wanx2.1-i2v-turbo"; an upload for any other name could not be read.
    (roots / "big.png").write_bytes(png(480, 360, RED))
    async with served(tmp_path, {"media_roots": (roots,), "region": "cn"}) as (client, sim, _):
        result = await client.call_tool(
            "generate_video",
            {"model": "wan2.1-i2v-turbo", "prompt": "p", "img_url": str(roots / "big.png"), "wait_seconds": 0},
        )
    assert not result.is_error, text_of(result)
    assert ([obj.model for obj in sim.uploads], sim.stats.submits_accepted) == (["wanx2.1-i2v-turbo"], 1)


async def test_a_call_over_the_budget_uploads_nothing(tmp_path: Path, roots: Path) -> None:
    async with served(tmp_path, {"media_roots": (roots,), "max_cost_per_task_usd": 0.01}) as (client, sim, _):
        result = await client.call_tool("generate_video", frame(str(roots / "a.png")))
    assert (result.is_error, (result.structured_content or {}).get("error_code")) == (True, "budget_exceeded")
    assert (sim.stats.policies, len(sim.uploads), sim.stats.submits) == (0, 0, 0)


async def test_no_provider_submits_a_local_input_that_was_not_sent() -> None:
    # A guard under the engine (which always sends first): a path never reaches the provider's API.
    request = validate({k: v for k, v in frame("/home/me/a.png").items() if k != "wait_seconds"}).request
    async with httpx.AsyncClient() as http:
        with respx.mock(assert_all_called=False) as router:
            for provider in (
                DashScopeProvider(http, api_key="sk-x", base_url="http://127.0.0.1:9/api/v1"),
                NewApiProvider(http, api_key="sk-x", base_url="http://127.0.0.1:9"),
            ):
                with pytest.raises(ProviderError) as caught:
                    await provider.submit(request)
                assert (caught.value.provider_code, caught.value.created) == ("LocalInputNotSent", False)
            assert not router.calls


def test_files_a_person_names_on_the_command_line_become_absolute_and_allowed(
    tmp_path: Path, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(roots)
    arguments = {
        "img_url": "a.png",
        "media": [
            {"type": "first_frame", "url": "./a.png"},
            {"type": "reference_image", "url": "https://x.test/b.png"},
        ],
        "reference_urls": ["missing.png"],
    }
    given, folders = local_files(arguments)
    absolute = str((roots / "a.png").resolve())
    assert (given["img_url"], given["media"][0]["url"], given["media"][1]["url"]) == (
        absolute,
        absolute,
        "https://x.test/b.png",
    )
    assert (given["reference_urls"], folders) == (["missing.png"], (roots.resolve(),))


async def test_a_twin_that_fails_meanwhile_still_gets_its_inputs_sent(
    tmp_path: Path, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The call finds a recent identical task, so it plans to attach and send nothing; the twin fails before the
    # task is created. The store's transaction then refuses to create a task with unsent inputs: they are sent.
    original = JobEngine.repeated
    armed: list[bool] = []

    async def repeated(self: JobEngine, call: Any) -> Any:
        found = await original(self, call)
        if armed and found is not None:
            await self.store.run(self.store.update_sync, found.id, self.clock(), state="failed")
        return found

    monkeypatch.setattr(JobEngine, "repeated", repeated)
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, settings):
        first = await client.call_tool("generate_video", frame(str(roots / "a.png")))
        armed.append(True)
        again = await client.call_tool("generate_video", frame(str(roots / "a.png")))
        with sqlite3.connect(settings.db_path) as db:
            requests = [row[0] for row in db.execute("SELECT request_json FROM tasks ORDER BY created_at")]
        db.close()
    assert not again.is_error, text_of(again)
    assert (again.structured_content or {})["task_id"] != (first.structured_content or {})["task_id"]
    assert [str(roots) in text for text in requests] == [True, True]  # recorded as given, in sources
    assert ['"url":"oss://' in text for text in requests] == [True, True]  # and sent as the upload
    assert (len(sim.uploads), sim.stats.submits_accepted) == (1, 2)


async def test_a_repeated_key_with_one_file_in_two_fields_is_the_same_request(tmp_path: Path, roots: Path) -> None:
    (roots / "b.png").write_bytes((roots / "a.png").read_bytes())  # the same bytes under two names
    arguments = {
        "model": "wan2.7-i2v",
        "media": [
            {"type": "first_frame", "url": str(roots / "a.png")},
            {"type": "last_frame", "url": str(roots / "b.png")},
        ],
        "idempotency_key": "k-2",
        "wait_seconds": 0,
    }
    async with served(tmp_path, {"media_roots": (roots,)}) as (client, sim, _):
        first = await client.call_tool("generate_video", arguments)
        again = await client.call_tool("generate_video", arguments)
        moved = dict(arguments, media=[dict(arguments["media"][0], url=str(roots / "c.png")), arguments["media"][1]])
        other = await client.call_tool("generate_video", moved)
    assert not again.is_error, text_of(again)
    assert (again.structured_content or {})["task_id"] == (first.structured_content or {})["task_id"]
    assert (other.is_error, (other.structured_content or {}).get("field")) == (True, "idempotency_key")
    assert (len(sim.uploads), sim.stats.submits) == (1, 1)


async def test_an_upload_longer_than_the_call_goes_on_and_the_next_call_reuses_it(
    tmp_path: Path, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TemporaryUploads.upload
    release = anyio.Event()

    async def slow(self: TemporaryUploads, *args: Any) -> Any:
        await release.wait()  # a slow link: the upload ends after the call has answered
        return await original(self, *args)

    monkeypatch.setattr(TemporaryUploads, "upload", slow)
    async with served(tmp_path, {"media_roots": (roots,), "max_wait_seconds": 5}) as (client, sim, _):
        pending = await client.call_tool("generate_video", frame(str(roots / "a.png")))
        release.set()
        with anyio.fail_after(30):
            while not sim.uploads:
                await anyio.sleep(0.05)
        again = await client.call_tool("generate_video", frame(str(roots / "a.png")))
    content = pending.structured_content or {}
    assert (pending.is_error, content.get("error_code"), content.get("retryable")) == (True, "inputs_uploading", True)
    assert "nothing was submitted or charged" in text_of(pending) and "same arguments" in text_of(pending)
    assert not again.is_error, text_of(again)
    assert (len(sim.uploads), sim.stats.submits_accepted) == (1, 1)
