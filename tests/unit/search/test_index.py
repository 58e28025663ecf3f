"""The tantivy index on its own: terms, scripts, prefixes, typos, deletes, hashtag counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from flick.search.index import SearchIndex, UserDoc, VideoDoc, sweep_dead_replicas
from flick.search.model import clean_query


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    found = SearchIndex(tmp_path / "ix")
    found.put_users(
        [
            (1, UserDoc(1, "ana.banana", "Ana Banana")),
            (2, UserDoc(2, "bob_builder", "Bob")),
            (3, UserDoc(3, "yuki", "雪 ユキ")),
        ]
    )
    found.put_videos(
        [
            (
                10,
                VideoDoc(
                    10,
                    1,
                    "morning run #running #fitness",
                    ["running", "fitness"],
                    "ana.banana",
                    1.0,
                ),
            ),
            (11, VideoDoc(11, 2, "build a shed #diy", ["diy"], "bob_builder", 2.0)),
            (12, VideoDoc(12, 3, "夜の東京タワー #東京 🗼🔥", ["東京"], "yuki", 3.0)),
            (13, VideoDoc(13, 2, "running late again #run", ["run"], "bob_builder", 4.0)),
        ]
    )
    return found


def videos(index: SearchIndex, text: str, **kwargs: object) -> list[int]:
    return [hit.video_id for hit in index.search_videos(clean_query(text), **kwargs)]  # type: ignore[arg-type]


def users(index: SearchIndex, text: str) -> list[int]:
    return [hit.user_id for hit in index.search_users(clean_query(text))]


def test_captions_hashtags_and_creators_are_searched(index: SearchIndex) -> None:
    assert set(videos(index, "running")) == {10, 13}
    assert videos(index, "#diy") == [11]
    assert set(videos(index, "bob_builder")) == {11, 13}
    assert videos(index, "shed diy") == [11]
    assert videos(index, "shed nothing") == []


def test_the_last_term_is_a_prefix(index: SearchIndex) -> None:
    assert videos(index, "fitn") == [10]
    assert set(videos(index, "runn")) == {10, 13}


def test_cjk_and_emoji(index: SearchIndex) -> None:
    assert videos(index, "東京") == [12]
    assert videos(index, "タワー") == [12]
    assert videos(index, "🔥") == [12]
    assert videos(index, "#東京") == [12]
    assert users(index, "ユキ") == [3]


def test_videos_by_a_creators_display_name(index: SearchIndex) -> None:
    creators = [hit.user_id for hit in index.search_users("Ana Banana", partial=False)]
    assert creators == [1]
    assert videos(index, "Ana Banana", creators=creators) == [10]


def test_handles_by_prefix_and_with_typos(index: SearchIndex) -> None:
    assert users(index, "@ana.banana")[0] == 1
    assert users(index, "bob_b")[0] == 2
    assert users(index, "bob_biulder")[0] == 2  # a transposition
    assert users(index, "ana.bananna")[0] == 1  # a letter too many
    assert users(index, "bananna")[0] == 1  # a typo in a name term


def test_a_deleted_video_is_gone_and_a_changed_user_is_current(index: SearchIndex) -> None:
    index.put_videos([(11, None)])
    assert videos(index, "diy") == []
    index.put_users([(2, UserDoc(2, "bob_builder", "Roberta"))])
    assert users(index, "roberta") == [2]
    assert len(index.users) == 3


def test_hashtags_by_prefix_with_counts(index: SearchIndex) -> None:
    assert index.hashtags("ru", limit=10) == [("run", 1), ("running", 1)]
    index.put_videos([(13, None)])
    assert index.hashtag_count("run") == 0
    assert index.hashtag_count("running") == 1


def test_query_syntax_is_only_separators(index: SearchIndex) -> None:
    for hostile in ['"running', "running AND NOT", "title:(x", "run* ~2 ^3", "[a TO z]", "\\"]:
        videos(index, hostile)
        users(index, hostile)
    assert videos(index, "(running)") != []
    assert videos(index, "*:*") == []


def test_a_replica_of_a_stopped_process_is_swept(tmp_path: Path) -> None:
    (tmp_path / "replica-999999999-abcd").mkdir()
    (tmp_path / "base").mkdir()
    sweep_dead_replicas(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def test_a_base_of_another_schema_is_not_used(tmp_path: Path) -> None:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("something_else")
    tantivy.Index(builder.build(), path=str(_mkdir(tmp_path / "base" / "videos")))
    replica = SearchIndex.replica(tmp_path)
    try:
        assert len(replica.videos) == 0
    finally:
        replica.close(delete=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
