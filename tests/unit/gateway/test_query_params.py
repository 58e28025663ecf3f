"""The edge's query parser agrees with parse_qs on what hot routes read."""

from __future__ import annotations

from urllib.parse import parse_qs

from hypothesis import given
from hypothesis import strategies as st

from flick.gateway.edge import query_params


def _parsed(query: bytes) -> dict[str, str]:
    return query_params({"query_string": query})


def test_plain_and_encoded_queries() -> None:
    assert _parsed(b"cursor=18f:20&limit=5") == {"cursor": "18f:20", "limit": "5"}
    assert _parsed(b"limit=5&limit=7&cursor=&x") == {"limit": "7"}  # last wins; blanks go
    assert _parsed(b"q=a+b%21&limit=3") == {"q": "a b!", "limit": "3"}
    assert _parsed(b"") == {}


@given(st.lists(st.tuples(st.sampled_from(["cursor", "limit", "q", ""]), st.text(max_size=6))))
def test_it_agrees_with_parse_qs(pairs: list[tuple[str, str]]) -> None:
    raw = "&".join(f"{key}={value}" for key, value in pairs).encode()
    # ASGI hands over the raw bytes; both read them as latin-1, as the route did before
    expected = {key: values[-1] for key, values in parse_qs(raw.decode("latin-1")).items()}
    assert _parsed(raw) == expected
