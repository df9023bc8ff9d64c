"""Queues, blobs and leases behind one interface (`base.Storage`), with two backends: the
embedded SQLite store (`sqlite.py`) and Azure Storage."""
