"""Accounts: users, usernames, passwords and sessions (strong consistency, the owner's shard)."""
