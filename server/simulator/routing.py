"""Route tables: each dialect lists its endpoints as data (methods, path pattern, fault target, handler)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wan_video_mcp.server.simulator.faults import Fault
from wan_video_mcp.server.simulator.http import Request, Response

if TYPE_CHECKING:  # the state holds the renders, which hold nothing of routing: only the type is needed here
    from wan_video_mcp.server.simulator.state import SimState

# What a request counts as: the fault target it arms (and the counter it bumps), or "other".
Target = Literal["submit", "poll", "cancel", "list", "download", "policy", "upload", "other"]
Handler = Callable[["SimState", Request, Fault | None], Awaitable[Response]]
ANY: tuple[str, ...] = ()  # a route for every method


@dataclass(frozen=True)
class Route:
    """``methods`` (ANY: all) on ``pattern``, where ``{name}`` is one path segment and ``{name*}`` the rest."""

    methods: tuple[str, ...]
    pattern: str
    target: Target
    handler: Handler


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)(\*?)\}", pattern)  # literal, name, star, literal, name, star, ..., literal
    regex = re.escape(parts[0])
    for i in range(1, len(parts), 3):
        regex += f"(?P<{parts[i]}>{'.*' if parts[i + 1] else '[^/]+'})" + re.escape(parts[i + 2])
    return re.compile(regex)


class RouteTable:
    """The routes of one dialect, and its answers for a path it does not know or a method a path does not take."""

    def __init__(self, routes: Sequence[Route], *, not_found: Handler, not_allowed: Handler) -> None:
        self._routes = [(_compile(route.pattern), route) for route in routes]
        self._not_found = not_found
        self._not_allowed = not_allowed

    def match(self, method: str, path: str) -> tuple[Target, Handler, dict[str, str]]:
        """The target, handler and path parameters for ``method`` on ``path``.

        The first pattern that matches the path decides: one of its routes takes the method, or it is not allowed.
        """
        for regex, route in self._routes:
            found = regex.fullmatch(path)
            if found is None:
                continue
            for same in (r for _, r in self._routes if r.pattern == route.pattern):
                if not same.methods or method in same.methods:
                    return same.target, same.handler, found.groupdict()
            return "other", self._not_allowed, {}
        return "other", self._not_found, {}


@dataclass(frozen=True)
class Mount:
    """Where a table answers: paths that start with ``prefix`` (a regex; its named groups become parameters).

    With ``strip`` the table sees the path after the prefix; either way without trailing slashes.
    ``gateway``: faults that replace an answer use a gateway's shape, not DashScope's; ``oss``: OSS's XML.
    """

    prefix: str
    table: RouteTable
    strip: bool = False
    gateway: bool = False
    oss: bool = False


def route(mounts: Sequence[Mount], req: Request) -> tuple[Mount, Target, Handler]:
    """The mount, target and handler of ``req`` (its path parameters are stored in ``req.params``)."""
    for mount in mounts:
        found = re.match(mount.prefix, req.path)
        if found is None:
            continue
        path = req.path[found.end() :] if mount.strip else req.path
        target, handler, params = mount.table.match(req.method, path.rstrip("/") or "/")
        req.params = {**found.groupdict(), **params}
        return mount, target, handler
    raise LookupError(f"no mount for {req.path}")  # the mounts end with a catch-all
