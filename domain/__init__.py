"""Domain services: plain functions over a session, one module per aggregate; they never commit."""
