"""Meta's callbacks acted on: deauthorization and data deletion requests."""
