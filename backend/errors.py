"""Errors meant for people: the message names the problem and the fix."""


class UserError(ValueError):
    """A problem with what the user asked for (a spec, a value, a file, a path)."""
