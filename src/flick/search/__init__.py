"""Search: videos, creators and hashtags in an embedded tantivy index per process, kept
current from the `video` and `user` topics (docs/search.md)."""
