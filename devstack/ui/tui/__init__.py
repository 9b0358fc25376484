"""The Textual dashboard. `app.py` wires it; the backend (all Docker and stack calls) is handed to the app, so
widgets only ever see immutable snapshots and the tests drive the same app against a real or recorded stack."""
