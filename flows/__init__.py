"""Prefect flows: one module per business process, plus the housekeeping flows."""
