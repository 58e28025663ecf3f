from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from flick.feed.foryou import Mix
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


def test_the_foryou_mix_is_read_as_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Mix.parse(load_settings().foryou_mix) == Mix()
    monkeypatch.setenv("FLICK_FORYOU_MIX", " retrieval = 3, exploration=1 ")
    mix = Mix.parse(load_settings().foryou_mix)
    assert mix.shares() == {"retrieval": 0.75, "following": 0, "trending": 0, "exploration": 0.25}
    assert [mix.offered(s) for s in ("retrieval", "following", "exploration")] == [300, 0, 100]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("retrieval=60,popular=40", "unknown source 'popular'"),
        ("retrieval=60,trending=-5", "trending=-5.0: a weight is a finite number, 0 or more"),
        ("retrieval=many", "retrieval='many': the weight is not a number"),
        ("retrieval", "'retrieval' is not source=weight"),
        ("retrieval=1,retrieval=2", "retrieval is given twice"),
        ("retrieval=0,exploration=0", "every weight is 0"),
        ("", "every weight is 0"),
    ],
)
def test_a_bad_foryou_mix_is_refused_with_the_sources_and_an_example(
    monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    monkeypatch.setenv("FLICK_FORYOU_MIX", text)
    with pytest.raises(ValidationError) as refused:
        load_settings()
    message = str(refused.value)
    assert "foryou_mix" in message and problem in message
    assert "retrieval, following, trending, exploration" in message
    assert '"retrieval=60,following=15,trending=15,exploration=10"' in message
