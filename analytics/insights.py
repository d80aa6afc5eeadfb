"""Meta's insights of an account and its media, read with the documented endpoints and stored."""
