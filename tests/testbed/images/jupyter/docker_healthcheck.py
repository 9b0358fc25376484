#!/usr/bin/env python3
"""Stand-in for quay.io/jupyter/*-notebook's /etc/jupyter/docker_healthcheck.py, written from its behaviour
(jupyter/docker-stacks images/base-notebook): healthy when a running Jupyter server left its runtime file
(*server-*.json in the runtime dir of $NB_USER) and its `<url>api` answers; otherwise it raises (no server at
all: StopIteration), so a container that runs anything else than Jupyter turns unhealthy."""

import json
import os
import urllib.request
from pathlib import Path

os.environ["HOME"] = str(Path("/home") / os.environ["NB_USER"])  # before jupyter_core reads it

from jupyter_core import paths  # noqa: E402

runtime_dir = Path(paths.jupyter_runtime_dir())
info = json.loads(next(runtime_dir.glob("*server-*.json")).read_bytes())
with urllib.request.urlopen(info["url"] + "api", timeout=30) as r:
    print(r.read())
