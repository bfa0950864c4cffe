"""A ``multipart/form-data`` body as its parts, in order (``parse_form``): what an OSS PostObject upload sends.

A small hand parser over the whole body (the HTTP layer has read it already, within its size limit); the
standard library's ``email`` package reads each part's header parameters (``name``, ``filename``).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

_CRLF = b"\r\n"
# Bounds a hostile form cannot pass: the email package's parameter parser is slow on long headers.
MAX_PART_HEADER_BYTES = 8192
MAX_PARTS = 64
MAX_CONTENT_TYPE_CHARS = 1024


class FormError(ValueError):
    """The body is not well-formed ``multipart/form-data``."""


@dataclass(frozen=True)
class Part:
    """One form field: its name, its bytes, and for a file its file name and content type."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _headers(block: bytes) -> Message:
    message = Message()
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise FormError(f"a part header without a colon: {line[:80]!r}")
        message[name.strip()] = value.strip()
    return message


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type; ``FormError`` for any other type."""
    if len(content_type) > MAX_CONTENT_TYPE_CHARS:
        raise FormError(f"the Content-Type is longer than {MAX_CONTENT_TYPE_CHARS} characters")
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if message.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise FormError("the Content-Type is not multipart/form-data with a boundary")
    return boundary.encode("latin-1")


def _part(block: bytes, content: bytes) -> Part:
    headers = _headers(block) if block else Message()
    name = headers.get_param("name", header="content-disposition")
    if headers.get_content_disposition() != "form-data" or not isinstance(name, str):
        raise FormError("a part without Content-Disposition: form-data; name=...")
    return Part(name, content, headers.get_filename(), headers.get("content-type"))


def parse_form(content_type: str, body: bytes) -> list[Part]:
    """The parts of a ``multipart/form-data`` body, in order; ``FormError`` when it is not one."""
    delimiter = b"--" + boundary_of(content_type)
    start = body.find(delimiter)
    if start < 0 or (start > 0 and body[start - 2 : start] != _CRLF):
        raise FormError("the body does not start with the boundary")
    parts: list[Part] = []
    pos = start + len(delimiter)
    while body[pos : pos + 2] != b"--":  # the closing delimiter ends the form
        line_end = body.find(_CRLF, pos)
        head_end = body.find(_CRLF * 2, line_end) if line_end >= 0 else -1
        if head_end < 0:
            raise FormError("a part without a blank line after its headers")
        if head_end - line_end > MAX_PART_HEADER_BYTES:
            raise FormError(f"a part's headers are longer than {MAX_PART_HEADER_BYTES} bytes")
        if len(parts) >= MAX_PARTS:
            raise FormError(f"more than {MAX_PARTS} parts")
        end = body.find(_CRLF + delimiter, head_end + 4)
        if end < 0:
            raise FormError("the form is not closed by its boundary")
        parts.append(_part(body[line_end + 2 : head_end], body[head_end + 4 : end]))
        pos = end + 2 + len(delimiter)
    return parts
