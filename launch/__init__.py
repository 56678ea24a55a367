"""Start the whole product on one machine: Prefect server, runner, inbox API, demo data."""
