"""One exception type for every failure a user can fix; the CLI prints its message on one line and exits 1."""


class ConvdivError(Exception):
    """A user-facing error. The message names the thing at fault (file, checkpoint, row, host)."""

    exit_code = 1

    def __str__(self) -> str:
        # One line, always: multi-line causes (tracebacks, server messages) are folded.
        return " ".join(super().__str__().split())


class StaleSchemaError(ConvdivError):
    """The warehouse schema is older (or newer) than this convdiv's migrations."""
