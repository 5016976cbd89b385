"""User-facing errors: one clear message, exit code 2, nothing written."""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave us (a config, a file, an option).

    The CLI prints the message alone (no traceback) and exits with code 2.
    """

    exit_code = 2
