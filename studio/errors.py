"""User-facing errors: the message is meant to be shown as is."""


class StudioError(Exception):
    """A problem the user can fix. str(error) is one or two plain sentences naming what and where."""


class ConflictError(StudioError):
    """The file on disk changed since this editor loaded it (another tab or program saved in between)."""
