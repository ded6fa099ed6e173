"""Errors the command line turns into one clear line and an exit status."""


class CliError(Exception):
    """The work failed for a reason the user can act on (exit status 1)."""

    exit_code = 1


class UsageProblem(CliError):
    """The command was used wrongly or configured wrongly (exit status 2)."""

    exit_code = 2
