"""Retention: each kind of data pruned after its period, in small batches (docs/features/data-lifecycle.md)."""
