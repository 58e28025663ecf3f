"""The gateway: authentication, rate limiting, request ids, problem+json errors, routing."""
