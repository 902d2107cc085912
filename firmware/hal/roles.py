"""Pin roles of a board file as one string, for the boot-time checks (no dict of role strings).

RoleTable(pins) keeps "\nROLE mode\n..." built from board["pins"]; `role in table` and
table.mode(role) search it (boot only: they allocate). A dict keyed by the board file's role names
costs one heap string per role plus the dict (~5 KiB on the 64-bit VM for 50 roles); this costs
one string. Used by hal/harness.py (role -> mode until the App is built) and by app/startup.py's
slim board (role presence for the composition). Boot-only: forgotten once the App is built.
"""


class RoleTable:
    def __init__(self, pins):
        self._text = "\n" + "".join([r + " " + pins[r].get("mode", "") + "\n" for r in pins])

    def mode(self, role):
        """The role's mode ("out", "in", "adc", ...), "" when the board file gives none, None
        when the board has no such role."""
        i = self._text.find("\n" + role + " ")
        if i < 0:
            return None
        start = i + len(role) + 2
        return self._text[start : self._text.find("\n", start)]

    def __contains__(self, role):
        return self._text.find("\n" + role + " ") >= 0

    def get(self, role, default=None):
        """Like dict.get, for code written against the board dict: True when present."""
        return True if role in self else default
