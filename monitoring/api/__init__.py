"""REST API of monitoring (issue 14, item 8)."""
