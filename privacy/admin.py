"""The operators' view of data deletion requests."""
