"""Prefect tasks the flows compose; tasks/human.py holds the human-step primitive."""
