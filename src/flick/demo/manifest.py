"""What a demo world's seeding has done so far, kept in `<data dir>/demo/manifest.json`.

Written after every step that creates something (an account, a published video, a viewer's
watches), atomically (a temporary file renamed over the old one), so an interrupted run
resumes where it stopped instead of making things twice, and a finished one is reused.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flick.demo.world import WorldSize

MANIFEST_VERSION = 1


@dataclass
class Manifest:
    """The ids a seeding made and the phases it finished."""

    path: Path
    size: WorldSize
    users: dict[str, int] = field(default_factory=dict)  # username -> user id
    videos: dict[int, int] = field(default_factory=dict)  # plan index -> video id
    follows_done: bool = False
    watched: set[int] = field(default_factory=set)  # viewers whose watches are recorded
    checkpoint: str | None = None  # the model version training wrote
    complete: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds

    @classmethod
    def load(cls, path: Path, size: WorldSize) -> Manifest:
        """The manifest at `path`, or a new one for a world of `size`. An existing world
        keeps its own size, whatever `size` asks (it is reused, never reshaped)."""
        if not path.is_file():
            return cls(path, size)
        data = json.loads(path.read_text())
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"{path} is from another version of `flick demo`; remove its dir")
        return cls(
            path,
            WorldSize(**data["size"]),
            users={k: int(v) for k, v in data["users"].items()},
            videos={int(k): int(v) for k, v in data["videos"].items()},
            follows_done=bool(data["follows_done"]),
            watched={int(v) for v in data["watched"]},
            checkpoint=data.get("checkpoint"),
            complete=bool(data["complete"]),
            timings=dict(data.get("timings", {})),
        )

    def save(self) -> None:
        """Replace the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(json.dumps(self.to_json(), indent=1))
        partial.replace(self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "size": asdict(self.size),
            "users": self.users,
            "videos": {str(k): v for k, v in sorted(self.videos.items())},
            "follows_done": self.follows_done,
            "watched": sorted(self.watched),
            "checkpoint": self.checkpoint,
            "complete": self.complete,
            "timings": self.timings,
        }
