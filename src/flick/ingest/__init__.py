"""Ingestion: resumable tus uploads, SHA-256 dedup, probe, transcode jobs, media serving."""
