"""Execution and storage: statements planned against the schema and run on the in-memory store,
plus the system tables the driver reads."""
