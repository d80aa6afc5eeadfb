"""Reads behind the analytics pages: volumes, outcomes, response times, rules and flows, warm-up, risk."""
