"""RFC 6381 codec strings (HLS CODECS) read from what the encoders wrote into init.mp4.

Computed from the decoder configuration records, not from the settings asked of the
encoders, so CODECS always matches the stream ("avc1.640028" is profile High, level 4.0, as
the avcC box says; "hvc1.1.6.L93.B0" as the hvcC box says, per ISO/IEC 14496-15 annex E).
"""

from __future__ import annotations

from pathlib import Path

import av

AAC_OBJECT_TYPE_ESCAPE = 31  # audioObjectType 31 means "read 6 more bits"
HEVC_PROFILE_SPACES = ("", "A", "B", "C")


def codecs_of(init_segment: Path) -> str:
    """The CODECS value for the streams in an fMP4 init segment, video first."""
    with av.open(str(init_segment)) as container:
        streams = sorted(container.streams, key=lambda stream: stream.type != "video")
        return ",".join(_codec_string(stream.codec_context) for stream in streams)


def _codec_string(context: av.codec.context.CodecContext) -> str:
    extradata = context.extradata or b""
    if context.name == "h264":
        return avc1(extradata)
    if context.name == "hevc":
        return hvc1(extradata)
    if context.name == "aac":
        return mp4a(extradata)
    raise ValueError(f"no codec string for {context.name}")


def avc1(avcc: bytes) -> str:
    """`avc1.PPCCLL` from an AVCDecoderConfigurationRecord (profile, constraints, level)."""
    return f"avc1.{avcc[1:4].hex()}"


def hvc1(hvcc: bytes) -> str:
    """`hvc1.<space><profile>.<compat>.<tier><level>.<constraints>` from an
    HEVCDecoderConfigurationRecord."""
    space, tier, profile = hvcc[1] >> 6, (hvcc[1] >> 5) & 1, hvcc[1] & 0x1F
    compatibility = int(f"{int.from_bytes(hvcc[2:6], 'big'):032b}"[::-1], 2)  # bit-reversed
    constraints = hvcc[6:12].rstrip(b"\0") or b"\0"  # trailing zero bytes are omitted
    return ".".join(
        [
            f"hvc1.{HEVC_PROFILE_SPACES[space]}{profile}",
            f"{compatibility:X}",
            f"{'LH'[tier]}{hvcc[12]}",
            *(f"{byte:X}" for byte in constraints),
        ]
    )


def mp4a(audio_specific_config: bytes) -> str:
    """`mp4a.40.<audioObjectType>` from an AudioSpecificConfig (2: AAC-LC)."""
    object_type = audio_specific_config[0] >> 3
    if object_type == AAC_OBJECT_TYPE_ESCAPE:
        object_type = 32 + ((audio_specific_config[0] & 0x07) << 3 | audio_specific_config[1] >> 5)
    return f"mp4a.40.{object_type}"
