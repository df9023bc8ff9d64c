"""Indexing: the only place that knows the two app models (see `funchost.indexing.index`)."""
