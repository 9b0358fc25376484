"""The rule for stack names, checked while the arguments are parsed: before Docker is asked anything or anything
is written."""

from __future__ import annotations

import re

from devstack.core.errors import UsageError

# Compose's rule for project names (lowercase letters, digits, dashes, underscores; a letter or digit first), since
# the project is devstack-<stack>; no dots or slashes, so a stack's state dir stays inside the state home
STACK_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,40}$"


def check_stack_name(name: str) -> str:
    """The stack name, if Compose takes it as part of a project name and it names a directory under the state
    home; else bad input, refused before Docker is asked anything or anything is written."""
    if re.fullmatch(STACK_NAME_PATTERN, name):
        return name
    raise UsageError(
        f"{name!r} is not a stack name: it becomes part of the Compose project name and of a directory name.",
        "use 1-41 lowercase letters, digits, '-' or '_', starting with a letter or digit (--stack dev-2).",
    )
