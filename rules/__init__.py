"""Business rules for time: the working calendar and the SLA escalation ladders."""
