"""Fault tests: the database, the index files, the chat APIs and kill -9 (issue 7.5)."""
