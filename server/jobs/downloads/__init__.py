"""Saving a provider's video: where it may come from (addresses), the fetch, the checks, the files."""

from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy
from wan_video_mcp.server.jobs.downloads.failures import DownloadFailed, RemoteUrlExpired, redact_url
from wan_video_mcp.server.jobs.downloads.fetch import MAX_REDIRECTS, DownloadResult, download
from wan_video_mcp.server.jobs.downloads.files import (
    VIDEO_DIR,
    file_sha256,
    part_owner,
    remove_orphaned_parts,
    video_path,
    write_atomically,
)
from wan_video_mcp.server.jobs.downloads.verify import (
    MediaInfo,
    has_mp4_signature,
    poster_frame_png,
    probe,
    verify_video_file,
)

__all__ = [
    "MAX_REDIRECTS",
    "VIDEO_DIR",
    "AddressPolicy",
    "DownloadFailed",
    "DownloadResult",
    "MediaInfo",
    "RemoteUrlExpired",
    "download",
    "file_sha256",
    "has_mp4_signature",
    "part_owner",
    "poster_frame_png",
    "probe",
    "redact_url",
    "remove_orphaned_parts",
    "verify_video_file",
    "video_path",
    "write_atomically",
]
