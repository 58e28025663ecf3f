"""The social graph and interactions: follows, blocks, likes, comments, shares."""
