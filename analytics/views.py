"""The analytics pages: the workspace's and an account's, with charts and CSV exports."""
