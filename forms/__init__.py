"""Pydantic forms: what a person submits to start a process or to complete a human step."""
