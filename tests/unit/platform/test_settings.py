from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from flick.platform.settings import load_settings


def test_defaults_are_the_embedded_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLICK_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.resolved_db_url == f"sqlite:///{tmp_path.resolve() / 'flick.db'}"
    assert settings.resolved_bus_url == f"local://{tmp_path.resolve() / 'bus'}"
    assert settings.resolved_blob_url == f"file://{tmp_path.resolve() / 'blobs'}"
    assert settings.cache_url == "memory://"


def test_toml_file_then_environment_on_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "flick.toml"
    config.write_text(
        '[flick]\ncache_url = "redis://10.0.0.5:6379/1"\nbus_partitions = 32\n'
        'db_url = "postgresql://db/flick"\n'
    )
    monkeypatch.setenv("FLICK_CONFIG_FILE", str(config))
    monkeypatch.setenv("FLICK_BUS_PARTITIONS", "64")
    settings = load_settings()
    assert settings.cache_url == "redis://10.0.0.5:6379/1"  # from the file
    assert settings.resolved_db_url == "postgresql://db/flick"
    assert settings.bus_partitions == 64  # the environment wins


def test_bad_values_are_refused_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLICK_BUS_PARTITIONS", "0")
    with pytest.raises(ValidationError, match="bus_partitions"):
        load_settings()
