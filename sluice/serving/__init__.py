"""Serving the marts to their readers: Superset for analysts (`superset_sync`)."""
