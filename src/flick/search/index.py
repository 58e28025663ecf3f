"""The full-text index: two tantivy indexes on disk (videos, users) and the queries over them.

tantivy (Rust, through its Python bindings) is embedded: no server, an index is a directory,
BM25 scoring, term/fuzzy/phrase queries built without a query parser, and a writer whose
commits a reader sees after `reload`. Every method here blocks; the async callers run them
in a thread (`asyncio.to_thread`), which tantivy's reader and writer are safe to share.

Each process holds a replica of its own under `<data dir>/search/replica-<pid>-<random>`
(tantivy allows one writer per directory); it starts as a copy of `base` when
`flick search reindex` has built one, and the bus keeps it current (consumers.py).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import tantivy

from flick.search.model import (
    CANDIDATES,
    PREFIX_MIN_CHARS,
    QUERY_MAX_TERMS,
    TERM_MAX_CHARS,
    TOKEN_PATTERN,
    USER_CANDIDATES,
    VIDEO_PREFIX_MIN_CHARS,
    handle_of,
)

log = logging.getLogger(__name__)

TOKENIZER = "flick"  # TOKEN_PATTERN, lower-cased, long runs dropped
EDGE_GRAMS = "edge"  # the prefixes of a value, from PREFIX_MIN_CHARS characters
WRITER_HEAP_BYTES = 32_000_000  # a replica writes small batches; tantivy's floor is 15 MB
BASE = "base"  # the snapshot `flick search reindex` builds; replicas start from a copy
REPLICA_PREFIX = "replica-"
CREATOR_MATCHES = 20  # users whose names a video query also looks for as creators
PREFIX_EXPANSIONS = 8  # completions of a query's last term tried per field, the most used
# TOKEN_PATTERN's unspaced scripts, as Python's re can say it (it lacks \p{Script}): Thai,
# Lao, Myanmar, Khmer, kana, CJK ideographs.
_UNSPACED_CHAR = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
MUST, SHOULD = tantivy.Occur.Must, tantivy.Occur.Should


class VideoHit(NamedTuple):
    video_id: int
    owner_id: int
    text_score: float
    created_at: float


class UserHit(NamedTuple):
    user_id: int
    text_score: float


class VideoDoc(NamedTuple):
    """What the index keeps of a ready video."""

    video_id: int
    owner_id: int
    caption: str
    hashtags: Sequence[str]
    creator: str  # the owner's username (usernames never change)
    created_at: float


class UserDoc(NamedTuple):
    """What the index keeps of a user."""

    user_id: int
    username: str
    display_name: str


def analyzer() -> tantivy.TextAnalyzer:
    """Captions and names are cut into terms this way, at indexing and at query time."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(TOKEN_PATTERN))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(TERM_MAX_CHARS + 1))
        .build()
    )


def edge_grams() -> tantivy.TextAnalyzer:
    """A value's prefixes (`ana` -> an, ana), lower-cased."""
    grams = tantivy.Tokenizer.ngram(PREFIX_MIN_CHARS, TERM_MAX_CHARS, prefix_only=True)
    return tantivy.TextAnalyzerBuilder(grams).filter(tantivy.Filter.lowercase()).build()


class TextIndex:
    """One tantivy index in a directory, with its writer; writes are serialised."""

    def __init__(self, path: Path, schema: tantivy.Schema, *, heap_bytes: int, threads: int):
        path.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.index = tantivy.Index(schema, path=str(path), reuse=True)
        self.index.register_tokenizer(TOKENIZER, analyzer())
        self.index.register_tokenizer(EDGE_GRAMS, edge_grams())
        self.index.config_reader("manual")
        self.writer: Any = self.index.writer(heap_bytes, threads)
        self._writes = threading.Lock()

    def replace(self, changes: Iterable[tuple[int, tantivy.Document | None]]) -> None:
        """Apply (id, document) in order: the id's old document goes, the new one (if any)
        comes; then commit, and let searches see it."""
        with self._writes:
            for doc_id, doc in changes:
                self.writer.delete_documents_by_query(self.term("id", doc_id))
                if doc is not None:
                    self.writer.add_document(doc)
            self.writer.commit()
        self.index.reload()

    def add_all(self, docs: Iterable[tantivy.Document]) -> int:
        """Add documents known to be new (a rebuild), without commit; how many."""
        count = 0
        with self._writes:
            for doc in docs:
                self.writer.add_document(doc)
                count += 1
        return count

    def commit(self) -> None:
        with self._writes:
            self.writer.commit()
        self.index.reload()

    def close(self) -> None:
        """Release the writer (and its lock on the directory)."""
        with self._writes:
            self.writer = None

    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def term(self, field: str, value: Any) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, field, value)

    def boosted_term(self, field: str, value: str, boost: float) -> tantivy.Query:
        return tantivy.Query.boost_query(self.term(field, value), boost)

    def fuzzy(self, field: str, value: str, boost: float, *, typos: int) -> tantivy.Query:
        found = tantivy.Query.fuzzy_term_query(self.schema, field, value, typos, True, False)
        return tantivy.Query.boost_query(found, boost)

    def __len__(self) -> int:
        return int(self.searcher().num_docs)


def _video_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", indexed=True, fast=True)
    builder.add_unsigned_field("owner", indexed=True, fast=True)
    builder.add_text_field("caption", tokenizer_name=TOKENIZER)
    builder.add_text_field("tags", tokenizer_name="raw", index_option="freq")
    builder.add_text_field("creator", tokenizer_name="raw", index_option="freq")
    builder.add_float_field("created_at", fast=True)
    return builder.build()


def _user_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", indexed=True, fast=True)
    builder.add_text_field("handle", tokenizer_name="raw", index_option="freq")
    builder.add_text_field("name", tokenizer_name=TOKENIZER)
    # Every prefix of the handle and of each name term, as terms: a prefix is then one term
    # query (shorter names rank first), not an expansion over every handle starting so.
    builder.add_text_field("prefixes", tokenizer_name=EDGE_GRAMS, index_option="freq")
    return builder.build()


class SearchIndex:
    """Videos and users, searchable; one per process (a replica) or a rebuild's output."""

    def __init__(
        self, root: Path, *, heap_bytes: int = WRITER_HEAP_BYTES, threads: int = 1
    ) -> None:
        self.root = root
        self.videos = TextIndex(
            root / "videos", _video_schema(), heap_bytes=heap_bytes, threads=threads
        )
        self.users = TextIndex(
            root / "users", _user_schema(), heap_bytes=heap_bytes, threads=threads
        )
        self.analyzer = analyzer()

    # --- replicas ------------------------------------------------------------------------

    @classmethod
    def replica(cls, search_dir: Path) -> SearchIndex:
        """A fresh replica for this process: a copy of the base snapshot when there is one
        (else empty); replicas left by processes that died are deleted first."""
        search_dir.mkdir(parents=True, exist_ok=True)
        sweep_dead_replicas(search_dir)
        root = search_dir / f"{REPLICA_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        if (search_dir / BASE).is_dir():
            shutil.copytree(search_dir / BASE, root)
        try:
            return cls(root)
        except ValueError:  # a base of another schema (an older Flick): rebuilt by the bus
            log.warning("search: the base index does not fit this version; starting empty")
            shutil.rmtree(root)
            return cls(root)

    def close(self, *, delete: bool = False) -> None:
        """Release the writers; `delete` removes the directory (a replica's, at shutdown)."""
        self.videos.close()
        self.users.close()
        if delete:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- writing -------------------------------------------------------------------------

    def put_videos(self, changes: Sequence[tuple[int, VideoDoc | None]]) -> None:
        """Index or (with None) remove videos, in order; searchable on return."""
        self.videos.replace((v, None if d is None else video_document(d)) for v, d in changes)

    def put_users(self, changes: Sequence[tuple[int, UserDoc | None]]) -> None:
        """Index or (with None) remove users, in order; searchable on return."""
        self.users.replace(
            (u, None if d is None else user_document(d, self.analyzer)) for u, d in changes
        )

    def add_videos(self, docs: Sequence[VideoDoc]) -> int:
        """Add new videos without committing (a rebuild); how many."""
        return self.videos.add_all(video_document(doc) for doc in docs)

    def add_users(self, docs: Sequence[UserDoc]) -> int:
        """Add new users without committing (a rebuild); how many."""
        return self.users.add_all(user_document(doc, self.analyzer) for doc in docs)

    # --- reading -------------------------------------------------------------------------

    def terms(self, text: str) -> list[str]:
        """A cleaned query's terms, as captions were cut (at most QUERY_MAX_TERMS)."""
        return list(self.analyzer.analyze(text))[:QUERY_MAX_TERMS]

    def search_videos(self, text: str, *, creators: Sequence[int] = ()) -> list[VideoHit]:
        """The best CANDIDATES videos for a query by text relevance: every term in the
        caption, a hashtag or the creator's username; or (with `creators`) by those users."""
        searcher = self.videos.searcher()
        query = self._video_query(searcher, text, creators)
        if query is None:
            return []
        hits = searcher.search(query, CANDIDATES, count=False).hits
        if not hits:
            return []
        addresses = [address for _, address in hits]
        ids = searcher.fast_field_values("id", addresses)
        owners = searcher.fast_field_values("owner", addresses)
        times = searcher.fast_field_values("created_at", addresses)
        return [
            VideoHit(int(v or 0), int(o or 0), float(score), float(t or 0.0))
            for (score, _), v, o, t in zip(hits, ids, owners, times, strict=True)
        ]

    def search_users(
        self, text: str, *, partial: bool = True, limit: int = USER_CANDIDATES
    ) -> list[UserHit]:
        """Users by handle and display name (every term): exactly, or with `partial` also
        by prefix (the last term) and despite a typo or two."""
        query = self._user_query(text, partial=partial)
        if query is None:
            return []
        searcher = self.users.searcher()
        hits = searcher.search(query, limit, count=False).hits
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        return [UserHit(int(u or 0), float(s)) for (s, _), u in zip(hits, ids, strict=True)]

    def hashtags(self, prefix: str, *, limit: int) -> list[tuple[str, int]]:
        """Hashtags starting with `prefix`, the most used first, with how many videos carry
        each (tantivy's document frequency: a deleted video counts until its segment is
        merged; `hashtag_count` is exact)."""
        if len(prefix) < PREFIX_MIN_CHARS:  # nearly every tag: only the tag itself
            count = self.hashtag_count(prefix) if prefix else 0
            return [(prefix, count)] if count else []
        found = self.videos.searcher().terms_with_prefix("tags", prefix, limit=limit)
        return [(str(tag), int(count)) for tag, count in found]

    def hashtag_count(self, tag: str) -> int:
        """How many indexed videos carry the hashtag, exactly."""
        found = self.videos.searcher().search(self.videos.term("tags", tag), 1)
        return int(found.count)  # type: ignore[attr-defined]  # missing from tantivy's stubs

    def _video_query(
        self, searcher: tantivy.Searcher, text: str, creators: Sequence[int]
    ) -> tantivy.Query | None:
        # Unions of plain term queries, so tantivy can skip blocks that cannot reach the top
        # (block-max WAND); a prefix or fuzzy query there would score every match instead.
        terms = self.terms(text)
        if not terms:
            return None
        v = self.videos
        last = len(terms) - 1
        anywhere = [self._term_anywhere(searcher, t, last=n == last) for n, t in enumerate(terms)]
        extra = [
            (SHOULD, v.boosted_term("tags", word, 3.0))
            for word in _words(text)
            if word not in terms  # e.g. 東京: its characters are terms, the tag is one word
        ]
        if len(anywhere) == 1:  # one flat union (a nested one would not be pruned)
            query = tantivy.Query.boolean_query(anywhere[0] + extra)
        else:
            words: list[str | tuple[int, str]] = list(terms)
            phrase = tantivy.Query.phrase_query(v.schema, "caption", words, slop=1)
            extra.append((SHOULD, tantivy.Query.boost_query(phrase, 2.0)))
            every = [(MUST, tantivy.Query.boolean_query(union)) for union in anywhere]
            query = tantivy.Query.boolean_query(every + extra)
        if creators:
            by_creator = tantivy.Query.term_set_query(v.schema, "owner", list(creators))
            query = tantivy.Query.boolean_query(
                [(SHOULD, query), (SHOULD, tantivy.Query.boost_query(by_creator, 2.0))]
            )
        return query

    def _term_anywhere(
        self, searcher: tantivy.Searcher, term: str, *, last: bool
    ) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """The term in the caption, as a hashtag or as the creator's username; the last term
        of a query also as the start of its most frequent completions (search as you type)."""
        v = self.videos
        clauses = [
            (SHOULD, v.boosted_term("caption", term, 1.0)),
            (SHOULD, v.boosted_term("tags", term, 2.0)),
            (SHOULD, v.boosted_term("creator", term, 1.5)),
        ]
        if last and len(term) >= VIDEO_PREFIX_MIN_CHARS and not _UNSPACED_CHAR.match(term):
            for field, boost in (("caption", 0.5), ("tags", 1.0)):
                for word, _ in searcher.terms_with_prefix(field, term, limit=PREFIX_EXPANSIONS):
                    if word != term:
                        clauses.append((SHOULD, v.boosted_term(field, word, boost)))
        return clauses

    def _user_query(self, text: str, *, partial: bool) -> tantivy.Query | None:
        u = self.users
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        handle = handle_of(text)[:TERM_MAX_CHARS]
        if handle:
            clauses.append((SHOULD, u.boosted_term("handle", handle, 8.0)))
            if partial and len(handle) >= PREFIX_MIN_CHARS:
                clauses.append((SHOULD, u.boosted_term("prefixes", handle, 4.0)))
            if partial and len(handle) >= 3:
                typos = 1 if len(handle) <= 5 else 2
                clauses.append((SHOULD, u.fuzzy("handle", handle, 2.0, typos=typos)))
        terms = self.terms(text)
        if terms:
            last = len(terms) - 1
            every = [
                (MUST, self._name_term(term, prefix=partial and n == last, fuzzy=partial))
                for n, term in enumerate(terms)
            ]
            clauses.append((SHOULD, tantivy.Query.boolean_query(every)))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _name_term(self, term: str, *, prefix: bool, fuzzy: bool) -> tantivy.Query:
        u = self.users
        options = [(SHOULD, u.boosted_term("name", term, 1.0))]
        if prefix and len(term) >= PREFIX_MIN_CHARS:
            options.append((SHOULD, u.boosted_term("prefixes", term, 0.5)))
        if fuzzy and len(term) >= 4 and not _UNSPACED_CHAR.match(term):
            options.append((SHOULD, u.fuzzy("name", term, 0.3, typos=1)))
        return tantivy.Query.boolean_query(options)


def video_document(doc: VideoDoc) -> tantivy.Document:
    document = tantivy.Document()
    document.add_unsigned("id", doc.video_id)
    document.add_unsigned("owner", doc.owner_id)
    document.add_text("caption", doc.caption)
    for tag in doc.hashtags:
        document.add_text("tags", tag)
    document.add_text("creator", doc.creator)
    document.add_float("created_at", doc.created_at)
    return document


def user_document(doc: UserDoc, terms: tantivy.TextAnalyzer) -> tantivy.Document:
    document = tantivy.Document()
    document.add_unsigned("id", doc.user_id)
    document.add_text("handle", doc.username)
    # The handle's parts are name terms too: "ana.banana" is found by "banana".
    name = f"{doc.display_name} {doc.username.replace('.', ' ')}"
    document.add_text("name", name)
    for value in dict.fromkeys([doc.username, *terms.analyze(name)]):
        document.add_text("prefixes", value)  # each value cut into its own prefixes
    return document


def _words(text: str) -> list[str]:
    """Whole words of a query, normalised as hashtags are (ingest's parse_hashtags)."""
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())[:QUERY_MAX_TERMS]


def sweep_dead_replicas(search_dir: Path) -> None:
    """Delete replica directories whose process is gone (on this machine)."""
    for path in search_dir.glob(f"{REPLICA_PREFIX}*"):
        pid = path.name.removeprefix(REPLICA_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            log.info("search: deleting the replica of stopped process %s", pid)
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
