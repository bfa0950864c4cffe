"""The simulator's counters (``Stats``): what it received and what it sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Stats:
    """What the simulator received. ``submits`` counts every submit request, refused or not, in every dialect."""

    connections: int = 0
    requests: int = 0
    submits: int = 0
    submits_accepted: int = 0  # tasks created
    polls: int = 0
    cancels: int = 0
    lists: int = 0
    downloads: int = 0  # GET requests for a video URL
    downloads_completed: int = 0  # whole bodies sent
    renders: int = 0
    faults_applied: int = 0
    policies: int = 0  # getPolicy requests answered 200 (temporary uploads)
    uploads: int = 0  # objects stored
    upload_bytes: int = 0  # their bytes

    @property
    def submits_refused(self) -> int:
        return self.submits - self.submits_accepted

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self), "submits_refused": self.submits_refused}

    def reset(self) -> None:
        for name in asdict(self):
            setattr(self, name, 0)
