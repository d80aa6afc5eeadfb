"""Analytics' background tasks (the insights schedule)."""
