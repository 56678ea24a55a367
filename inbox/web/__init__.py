"""The task inbox in the browser: server-rendered pages (Jinja2 + htmx), Chinese first."""
