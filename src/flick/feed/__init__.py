"""Feeds: the Following feed (hybrid fan-out into capped inboxes, merged at read time with
the posts of creators that were not pushed) and the For You assembly. docs/feeds.md."""
