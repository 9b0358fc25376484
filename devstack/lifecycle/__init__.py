"""What a command does to a stack: up, down, status, bootstrap, doctor, serving a model."""
