"""Notifications: stored per user, likes grouped; pushed live (WebSocket) in a later step."""
