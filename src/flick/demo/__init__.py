"""The demo world: creators, ~200 short clips made with ffmpeg, simulated viewers and their
interactions, and a trained recommender, all made through the platform's own services
(`flick demo`; docs/demo.md). A tool over the services, like the command line, not a domain.
"""
