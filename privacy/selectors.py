"""Reads for the data lifecycle's pages."""
