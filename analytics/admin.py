"""The operators' view of stored insights."""
