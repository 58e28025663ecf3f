"""Caption and hashtag rules, tus header parsing."""

from __future__ import annotations

import base64

import pytest

from flick.ingest import tus
from flick.ingest.model import CAPTION_MAX, HASHTAGS_MAX, clean_caption, parse_hashtags
from flick.platform.errors import DomainError, InvalidInput


def test_hashtags_in_any_script_once_each_in_order() -> None:
    caption = "Sunset #Beach #café #東京 #k_pop again #beach, mail#not ##x #"
    assert parse_hashtags(caption) == ["beach", "café", "東京", "k_pop"]


def test_hashtags_are_capped() -> None:
    caption = " ".join(f"#tag{i}" for i in range(HASHTAGS_MAX + 10))
    assert len(parse_hashtags(caption)) == HASHTAGS_MAX


def test_captions_are_bounded_and_plain_text() -> None:
    assert clean_caption("  <b>hi</b>\nthere  ") == "<b>hi</b>\nthere"  # stored as text
    with pytest.raises(InvalidInput, match="at most"):
        clean_caption("x" * (CAPTION_MAX + 1))
    with pytest.raises(InvalidInput, match="control characters"):
        clean_caption("bell\x07")


def test_metadata_round_trips_utf8() -> None:
    raw = tus.encode_metadata({"filename": "clip.mp4", "caption": "día #playa 🌊"})
    assert tus.parse_metadata(raw) == {"filename": "clip.mp4", "caption": "día #playa 🌊"}
    assert tus.parse_metadata("flag") == {"flag": ""}  # a key without a value is allowed


@pytest.mark.parametrize("raw", ["caption !!!", "caption " + base64.b64encode(b"\xff").decode()])
def test_bad_metadata_is_a_400(raw: str) -> None:
    with pytest.raises(DomainError) as refused:
        tus.parse_metadata(raw)
    assert refused.value.status == 400


def test_checksum_header() -> None:
    digest = bytes(32)
    assert tus.parse_checksum("sha256 " + base64.b64encode(digest).decode()) == ("sha256", digest)
    assert tus.parse_checksum(None) is None
    with pytest.raises(DomainError) as unsupported:
        tus.parse_checksum("crc32 AAAA")
    assert unsupported.value.status == 400
    with pytest.raises(InvalidInput):
        tus.parse_checksum("sha1 " + base64.b64encode(bytes(5)).decode())  # wrong length
