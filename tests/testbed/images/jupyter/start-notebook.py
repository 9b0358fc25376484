#!/usr/bin/env python3
"""devstack test bed: the stand-in's start-notebook.py (on PATH, /usr/local/bin; the official image's CMD),
written for this image from the documented behaviour of quay.io/jupyter/*-notebook's, kept simple: it execs
JupyterLab listening on all addresses at $JUPYTER_PORT (8888) without a browser, with $NOTEBOOK_ARGS and its own
arguments appended (DOCKER_STACKS_JUPYTER_CMD picks another `jupyter` subcommand, `lab` by default). start.sh,
the entrypoint, has run the hooks already. Not reproduced: the JupyterHub (start-singleuser) and RESTARTABLE paths."""

import os
import shlex
import sys

command = [
    "jupyter",
    os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab"),
    "--ip=0.0.0.0",
    f"--port={os.environ.get('JUPYTER_PORT', '8888')}",
    "--no-browser",
]
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", ""))
command += sys.argv[1:]
print("Executing: " + shlex.join(command), file=sys.stderr, flush=True)
os.execvp(command[0], command)
