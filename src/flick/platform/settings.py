"""Settings: `FLICK_*` environment variables, then an optional TOML file, then defaults.

Each backend is chosen by one URL (STYLE habit 2):

    FLICK_DB_URL     sqlite:///var/flick/flick.db | postgresql://host/db
    FLICK_DB_SHARDS  optional shard map: "0-511=postgresql://h/a;512-1023=postgresql://h/b"
    FLICK_CACHE_URL  memory:// | redis://127.0.0.1:6379/0
    FLICK_BUS_URL    local:///var/flick/bus | nats://127.0.0.1:4222
    FLICK_BLOB_URL   file:///var/flick/blobs | s3://bucket?endpoint=http://127.0.0.1:9000

Unset URLs default to the embedded backends under `FLICK_DATA_DIR`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a Flick process can be told. Field docs appear in `flick doctor`."""

    model_config = SettingsConfigDict(env_prefix="FLICK_", extra="ignore")

    config_file: Path | None = Field(None, description="TOML file read after the environment")
    data_dir: Path = Field(Path("var/flick"), description="where embedded backends keep files")

    db_url: str = Field("", description="SQL backend; default sqlite in data_dir")
    db_shards: str = Field("", description="logical-shard ranges to database URLs")
    db_pool_size: int = Field(10, ge=1, le=200)
    cache_url: str = Field("memory://", description="cache backend")
    cache_prefix: str = Field("", description="prefix of every cache key (share one Redis)")
    bus_url: str = Field("", description="event bus; default a SQLite log in data_dir")
    bus_namespace: str = Field("flick", description="NATS stream/subject prefix")
    bus_partitions: int = Field(16, ge=1, le=1024, description="partitions per topic")
    bus_max_attempts: int = Field(5, ge=1, description="failures before the dead-letter topic")
    blob_url: str = Field("", description="blob store; default a directory in data_dir")

    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest JSON request body")
    session_ttl_s: int = Field(30 * 86400, ge=60, description="how long a login lasts")
    password_time_cost: int = Field(3, ge=1, description="argon2id passes")
    password_memory_kib: int = Field(65536, ge=8, description="argon2id memory")
    rate_per_address: float = Field(50.0, gt=0, description="requests/s per client address")
    burst_per_address: int = Field(200, ge=1)
    rate_per_user: float = Field(20.0, gt=0, description="requests/s per signed-in user")
    burst_per_user: int = Field(100, ge=1)
    rate_auth_attempts: float = Field(0.5, gt=0, description="signup/login tries/s per address")
    burst_auth_attempts: int = Field(10, ge=1)
    trust_forwarded_for: bool = Field(False, description="take the client address from XFF")

    relay_poll_s: float = Field(0.2, gt=0, description="outbox poll interval")

    upload_max_bytes: int = Field(512 << 20, ge=1, description="largest file a tus upload takes")
    upload_expiry_s: int = Field(86400, ge=1, description="an unfinished upload is deleted after")
    upload_part_bytes: int = Field(
        8 << 20, ge=1 << 16, description="upload bytes buffered per stored part (memory/request)"
    )
    video_max_duration_s: float = Field(600.0, gt=0, description="longest video accepted")
    video_max_frame_pixels: int = Field(4096 * 2304, ge=1, description="largest frame accepted")
    probe_cpu_s: int = Field(20, ge=1, description="CPU seconds a media probe may use")
    probe_memory_mb: int = Field(1024, ge=64, description="memory a media probe may use")
    probe_wall_s: float = Field(30.0, gt=0, description="wall seconds a media probe may take")
    transcode_memory_mb: int = Field(3072, ge=256, description="memory one ffmpeg may use")
    transcode_concurrency: int = Field(1, ge=1, description="transcodes at once per worker")
    transcode_hevc: bool = Field(True, description="add a 720p HEVC rendition after the H.264")
    hls_segment_s: float = Field(2.0, ge=1.0, le=10.0, description="HLS segment length")
    worker_sweep_s: float = Field(60.0, gt=0, description="expired-upload sweep interval")
    feed_policy: Literal["seed", "classic"] = Field(
        "seed",
        description="Following feed fan-out: `seed` pushes posts of accounts above the threshold "
        "into followers' inboxes and pulls the rest at read time (the article); `classic` "
        "pushes regular accounts and pulls celebrities (Twitter, Mastodon)",
    )
    feed_push_threshold: int = Field(
        10_000, ge=0, description="followers that make an account 'large' for the feed policy"
    )
    foryou_cache_s: float = Field(300.0, gt=0, description="how long a ranked For You list lives")
    foryou_mix: str = Field(
        "retrieval=60,following=15,trending=15,exploration=10",
        description="each source's share of a For You list, as source=weight pairs",
    )
    gc_young_threshold: int = Field(
        20_000,
        ge=100,
        description="allocations between a serving process's young garbage collections "
        "(CPython's default: 700); platform.collector says why it is higher",
    )

    @field_validator("foryou_mix")
    @classmethod
    def _check_foryou_mix(cls, text: str) -> str:
        # Imported here, as platform modules import no domain at load; bootstrap imports it
        # anyway. A bad mix then fails at startup and in `flick doctor`, not at a first feed.
        from flick.feed.foryou import Mix

        Mix.parse(text)
        return text

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # Resolved URLs: what each port is built from.
    @property
    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir.resolve() / 'flick.db'}"

    @property
    def resolved_bus_url(self) -> str:
        return self.bus_url or f"local://{self.data_dir.resolve() / 'bus'}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{self.data_dir.resolve() / 'blobs'}"


class _TomlSource(PydanticBaseSettingsSource):
    """Values from the TOML file named by FLICK_CONFIG_FILE (keys as field names)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._values()

    def _values(self) -> dict[str, Any]:
        path = os.environ.get("FLICK_CONFIG_FILE")
        if not path:
            return {}
        with open(path, "rb") as f:
            return dict(tomllib.load(f).get("flick", {}))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top."""
    return Settings(**overrides)
