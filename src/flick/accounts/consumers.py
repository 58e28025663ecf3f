"""Reactions of the accounts domain to other domains' events: none yet."""
