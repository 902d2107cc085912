"""The plant's error: a bad plant request (unknown load profile, unknown or ill-formed fault).
Its own module so that the package's parts import it without importing the package."""

from .. import GridpodError


class PlantError(GridpodError):
    pass
