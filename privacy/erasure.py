"""Erasing data: an account disconnected (its history kept or deleted), a workspace, a follower."""
