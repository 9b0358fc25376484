"""The foundations every layer builds on: units, errors, the sizing helpers, and where devstack's shipped files
are. Pure; imports nothing else of devstack."""
