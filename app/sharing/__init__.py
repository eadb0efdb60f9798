"""Sharing a story for review: links with an unguessable token, and guests' comments."""
