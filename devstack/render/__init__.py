"""Files from a plan: the stack directory plain `docker compose` runs (imports the core and the services)."""
