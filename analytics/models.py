"""Analytics' stored figures: Meta's insights of accounts and their media, read on a schedule."""
