"""What a storyboard's shots are: the continuities, each shot's generate_video arguments (``shot_arguments``), the
whole storyboard checked before anything is paid (``plan_storyboard``), and which shots a retry makes again
(``remakes``, ``unsaveable``, ``RetryPlan``). Pure rules: the runner that submits and joins is ``storyboards``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wan_video_mcp.server.catalog import DEFAULT_MODEL, MODEL_INDEX, ModelSpec, Protocol, ValidatedCall, validate
from wan_video_mcp.server.errors import InvalidRequest
from wan_video_mcp.server.store import StoryboardRecord, TaskRecord

CONTINUITIES = ("none", "last_frame", "clip")
CLIP_MODEL = "wan2.7-i2v"
CLIP_SECONDS_MAX = 10  # a first_clip is 2-10 s
# The model a dependent shot is made with, per generation (the first offered one).
FRAME_MODELS = {
    "wan3.0": ("wan3.0-video",),
    "wan2.7": ("wan2.7-i2v",),
    "wan2.6": ("wan2.6-i2v", "wan2.6-i2v-flash"),
    "wan2.5": ("wan2.5-i2v-preview",),
    "wan2.2": ("wan2.2-i2v-plus", "wan2.2-i2v-flash"),
    "wan2.1": ("wan2.1-i2v-plus", "wan2.1-i2v-turbo"),
}
PLACEHOLDER = "wan_00000000000000000000"  # stands for a shot's video while validating before any exists
# generate_video's options that belong to a call, not to a shot.
PER_CALL = frozenset({"wait_seconds", "dry_run", "idempotency_key", "force_new"})


def shot_arguments(
    request: Mapping[str, Any], index: int, previous: str | None, previous_seconds: float | None = None
) -> dict[str, Any]:
    """The generate_video arguments of shot ``index`` (``previous``: the video or frame it follows, if any)."""
    shared, shot = dict(request["shared"]), dict(request["shots"][index])
    arguments = {**shared, **shot}
    continuity = request["continuity"]
    if index == 0 or continuity == "none" or previous is None:
        return arguments
    model = CLIP_MODEL if continuity == "clip" else request["frame_model"]
    arguments["model"] = model
    spec = MODEL_INDEX[model]
    size = arguments.pop("size", None)  # the model takes a tier: the same one, so the shots match
    if size is not None and "resolution" not in arguments and spec.tier_of(str(size)) in spec.tiers:
        arguments["resolution"] = spec.tier_of(str(size))
    if continuity == "clip":
        arguments.pop("ratio", None)  # the output follows the clip
        total = sum(int(_seconds(s, shared)) for s in request["shots"][: index + 1])
        arguments["duration"] = total
        arguments["media"] = [{"type": "first_clip", "url": previous}, *arguments.get("media", [])]
        return arguments
    if spec.protocol is Protocol.MEDIA:
        arguments.pop("ratio", None)
        arguments["media"] = [{"type": "first_frame", "url": previous}, *arguments.get("media", [])]
    else:
        arguments["img_url"] = previous
    return arguments


def _seconds(shot: Mapping[str, Any], shared: Mapping[str, Any]) -> Any:
    """A shot's requested length: its own, else the shared one, else the default 5 s."""
    for given in (shot.get("duration"), shared.get("duration")):
        if given is not None:
            return given
    return 5


@dataclass(frozen=True)
class RetryPlan:
    """What a retry of a failed storyboard does: the shots it makes again (failed, or their video lost for good;
    each paid again as a new attempt), the shots it submits that never were (paid once), and the finished shots
    whose videos it downloads first (not paid again, unless a download finds the video lost)."""

    record: StoryboardRecord
    remake: tuple[int, ...]
    submit: tuple[int, ...]
    save: tuple[int, ...]
    cost_usd: float  # the estimate of what it pays: the shots made again and those submitted
    at_risk_usd: float  # what it would pay more should the videos it downloads turn out lost

    @property
    def shots(self) -> tuple[int, ...]:
        """The shots ``retry_shot`` may name: those it makes again, else those it submits (any shot when it pays
        for none)."""
        return self.remake or self.submit

    def describe(self) -> str:
        """What the retry does, in words (the dry run's message and the failed storyboard's next step)."""
        parts = []
        if self.remake:
            parts.append(f"makes shot(s) {_listed(self.remake)} again")
        if self.submit:
            parts.append(f"submits shot(s) {_listed(self.submit)}, never submitted so far")
        if parts:
            said = " and ".join(parts) + f", estimated at most ${self.cost_usd:.2f}"
        else:
            said = "pays nothing: the saved shots are joined again"
        if self.save:
            said += (
                f"; the finished video(s) of shot(s) {_listed(self.save)} are downloaded first, not paid again (made "
                f"again only if a download finds one lost for good: up to ${self.at_risk_usd:.2f} more)"
            )
        return said


def _listed(shots: Sequence[int]) -> str:
    return ", ".join(str(i) for i in shots)


def retry_outlook(
    record: StoryboardRecord,
    tasks: Sequence[TaskRecord | None],
    saved: Sequence[bool],
    costs: Sequence[float],
    now: float,
    lost: Collection[int] = (),
) -> RetryPlan:
    """The retry of ``record`` as far as its shots tell (``saved``: whose video is on disk; ``costs``: each shot's
    estimate; ``lost``: the shots whose download found the video lost, besides those whose URL expired)."""
    remake = tuple(remakes(tasks, set(lost) | unsaveable(tasks, now)))
    submit = tuple(i for i, task in enumerate(tasks) if task is None)
    save = tuple(
        i for i, t in enumerate(tasks) if t is not None and t.state == "succeeded" and not saved[i] and i not in remake
    )
    return RetryPlan(
        record,
        remake,
        submit,
        save,
        cost_usd=sum(costs[i] for i in remake + submit),
        at_risk_usd=sum(costs[i] for i in save),
    )


def plan_storyboard(
    arguments: Mapping[str, Any], models: Sequence[ModelSpec]
) -> tuple[dict[str, Any], list[ValidatedCall]]:
    """The storyboard request as stored, and each shot validated (placeholders for what earlier shots make).

    Raises ``InvalidRequest`` naming ``shots[i].<field>`` for every problem of every shot.
    """
    request = {
        "continuity": arguments["continuity"],
        "shared": dict(arguments.get("shared") or {}),
        # A null field is an absent one (clients send them for "not set").
        "shots": [{k: v for k, v in dict(shot).items() if v is not None} for shot in arguments["shots"]],
    }
    offered = {spec.id for spec in models}
    first = request["shots"][0] if request["shots"] else {}
    default = DEFAULT_MODEL if DEFAULT_MODEL in offered else models[0].id
    model = first.get("model") or request["shared"].get("model") or default
    if request["continuity"] == "last_frame":
        generation = str(model).split("-")[0]
        frame = next((m for m in FRAME_MODELS.get(generation, ()) if m in offered), None)
        if frame is None:
            raise InvalidRequest(
                f"no image-to-video model of {generation} is offered here to start shots from last frames",
                field="continuity",
            )
        request["frame_model"] = frame
    if request["continuity"] == "clip" and CLIP_MODEL not in offered:
        raise InvalidRequest(f"clip continuity needs {CLIP_MODEL}, which is not offered here", field="continuity")
    calls, problems = [], []
    for index, shot in enumerate(request["shots"]):
        for name in sorted(set(shot) & PER_CALL):
            problems.append((f"shots[{index}].{name}", f"shot {index}: {name} is set for the whole storyboard"))
        if "media" in shot and not isinstance(shot["media"], list):
            problems.append(
                (
                    f"shots[{index}].media",
                    f"shot {index}: media is a list of {{type, url}}, not {shot['media']!r:.60}",
                )
            )
        seconds = _seconds(shot, request["shared"]) if "duration" in shot or "duration" in request["shared"] else None
        whole = isinstance(seconds, int) and not isinstance(seconds, bool) and seconds >= 1
        if request["continuity"] == "clip" and seconds is not None and not whole:
            problems.append(
                (
                    f"shots[{index}].duration",
                    f"shot {index}: with clip continuity each shot adds whole seconds (1 or more), "
                    f"not {seconds!r}: the shots' lengths add up to each continuation's",
                )
            )
    if problems:  # (the shots' own arguments are built from these)
        raise refusal(problems)
    previous = f"wan-video://videos/{PLACEHOLDER}.mp4"
    for index in range(len(request["shots"])):
        shot = shot_arguments(request, index, previous if index else None)
        try:
            calls.append(validate({**shot, "wait_seconds": 0}, tuple(models)))
        except InvalidRequest as exc:
            for problem in getattr(exc, "problems", None) or [{"field": exc.field, "message": exc.message}]:
                problems.append((f"shots[{index}].{problem['field']}", f"shot {index}: {problem['message']}"))
    if request["continuity"] == "clip" and len(calls) > 1:
        before = calls[-2].request.duration  # the running total the last shot continues
        if before > CLIP_SECONDS_MAX:
            problems.append(
                (
                    "shots",
                    "with clip continuity each shot continues everything before it, sent as a first_clip of at "
                    f"most {CLIP_SECONDS_MAX} s; the shots before the last add up to {before} s",
                )
            )
    if problems:
        raise refusal(problems)
    return request, calls


FAILED = ("failed", "canceled", "expired")


def unsaveable(tasks: Sequence[TaskRecord | None], now: float) -> set[int]:
    """The finished shots whose videos are lost for good as far as can be told without downloading: never saved,
    and the provider's URL has expired."""
    return {
        i
        for i, t in enumerate(tasks)
        if t is not None
        and t.state == "succeeded"
        and t.download_state != "downloaded"
        and t.video_url_expires_at is not None
        and now >= t.video_url_expires_at
    }


def remakes(tasks: Sequence[TaskRecord | None], lost: Collection[int]) -> list[int]:
    """The shots a retry makes again (each paid again): those whose task failed, and those whose video is lost."""
    return [i for i, t in enumerate(tasks) if t is not None and (t.state in FAILED or i in lost)]


def refusal(problems: list[tuple[str, str]]) -> InvalidRequest:
    """One ``InvalidRequest`` naming every problem (the first ten), the first one's field as its field."""
    error = InvalidRequest("; ".join(text for _, text in problems[:10]), field=problems[0][0])
    error.problems = [{"field": f, "message": m} for f, m in problems[:10]]  # type: ignore[attr-defined]
    return error
