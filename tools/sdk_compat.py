"""Every use of the SDK's private surface, in one place, each saying which public API is missing (mcp 2.3).

When the SDK grows the public API named here, replace the function and nothing else changes.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel


def add_request_handler(server: MCPServer[Any], method: str, params_type: type[BaseModel], handler: Any) -> None:
    """Register a request handler that receives the request context (and so the lifespan state).

    Missing publicly: ``MCPServer`` offers no handler for ``logging/setLevel`` (the SDK's extension docs say to
    re-provide it with the low-level ``Server.add_request_handler``), and its ``completion()`` decorator does not
    pass the request context, which task-id completions need to read the store. The low-level server, whose
    ``add_request_handler`` is public, is reachable only through the private ``_lowlevel_server``.
    """
    server._lowlevel_server.add_request_handler(method, params_type, handler)


def connection_of(session: Any) -> Any:
    """The connection a request arrived on, to key per-connection state (the client's chosen log level).

    Missing publicly: the SDK makes a new session object for every request and keeps the connection private
    (``_connection``, no accessor in 2.3); falls back to the session.
    """
    return getattr(session, "_connection", session)
