from __future__ import annotations

import os

from flick.platform.bus import Event, decode_event, encode_event, new_event_id


def test_event_ids_are_unique_and_shaped_like_uuid_hex() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_forked_child_draws_its_own_id_prefix() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes one id and leaves at once
        os.write(write_end, new_event_id().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    assert child_id[:16] != new_event_id()[:16]


def test_decoding_keeps_id_and_time() -> None:
    event = Event(type="t.x", key=5, payload={"a": [1, "é"]})
    decoded = decode_event(encode_event(event))
    assert decoded == event and isinstance(decoded, Event)
