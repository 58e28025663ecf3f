"""Ports and adapters: SQL, cache, bus, blob store, ids, settings. Imports no domain."""
