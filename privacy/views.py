"""Meta's deauthorize and data deletion callbacks, the deletion status page, the owners' disconnect and delete pages."""
