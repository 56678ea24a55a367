"""The task inbox: REST API, web app and CLI over the domain services."""
