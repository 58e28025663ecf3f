"""Query rules and the ranking formula."""

from __future__ import annotations

import pytest

from flick.search.model import (
    QUERY_MAX_CHARS,
    BadQuery,
    clean_query,
    engagement,
    handle_of,
    hashtag_prefix,
    user_score,
    video_score,
)

DAY = 86400.0


def test_queries_are_normalised_and_stripped_of_control_characters() -> None:
    assert clean_query("  dance\x00\x07  battle\t\n") == "dance battle"
    assert clean_query("\uff44\uff41\uff4e\uff43\uff45") == "dance"  # NFKC: full-width
    assert clean_query("👩\u200d👩\u200d👧") == "👩\u200d👩\u200d👧"  # the joiner stays
    assert clean_query("a\u202eb\u200bc") == "a b c"  # bidi override, zero-width space


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01", "a" * (QUERY_MAX_CHARS + 1)])
def test_empty_or_too_long_queries_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery) as refused:
        clean_query(raw)
    assert refused.value.status == 400
    assert refused.value.detail.startswith("q ")


def test_hashtags_and_handles_from_queries() -> None:
    assert hashtag_prefix("#K_Pop!") == "k_pop"
    assert hashtag_prefix("#東京") == "東京"
    assert hashtag_prefix("#!") == ""
    assert handle_of("@Ana.Banana!") == "ana.banana"


def test_relevance_leads_then_popularity_then_freshness() -> None:
    fresh = video_score(1.0, engagement=0, age_s=0)
    assert fresh == 1.0
    assert video_score(1.0, engagement=0, age_s=7 * DAY) == pytest.approx(0.75)
    assert video_score(1.0, engagement=0, age_s=10_000 * DAY) == pytest.approx(0.5)
    popular = video_score(1.0, engagement=1000, age_s=0)
    assert 1.9 < popular < 2.1
    # a much better text match beats popularity; near-equal matches go to the popular one
    assert video_score(3.0, engagement=0, age_s=0) > popular
    assert video_score(1.1, engagement=0, age_s=0) < popular
    assert engagement({"likes": 1, "comments": 1, "shares": 1, "views": 10}) == 7
    assert user_score(1.0, followers=10_000) > user_score(1.0, followers=10)
