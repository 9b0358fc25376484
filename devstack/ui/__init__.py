"""What a person sees: the command line (cli/, output) and the dashboard (tui/)."""
