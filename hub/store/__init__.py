"""Durable storage: the outbox and event log (SQLite), the device registry (TinyDB)."""
