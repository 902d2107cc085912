"""Safe-boot escape: reasons not to start the application at all, so mpremote can always get in.

Either the file <root>SAFE_BOOT exists, or the SAFE_MODE_BUTTON role (when the board has one)
reads active at boot. Active level: 1, or 0 when the board's pin entry says "active_low": true;
the entry's "pull" ("up"/"down") is passed to the HAL.
"""

from app import fsutil

SAFE_BOOT_FILE = "SAFE_BOOT"
BUTTON_ROLE = "SAFE_MODE_BUTTON"


def reason(root, platform, board):
    """A one-line explanation (with how to leave) when the app must not start, else None."""
    flag = root + SAFE_BOOT_FILE
    if fsutil.exists(flag):
        return "%s exists; to leave: mpremote rm :%s then reset" % (flag, flag)
    pin = board.get("pins", {}).get(BUTTON_ROLE)
    if pin is not None:
        level = platform.digital_in(BUTTON_ROLE, pin.get("pull")).value()
        if level == (0 if pin.get("active_low") else 1):
            return "%s held at boot; to leave: release it and reset" % BUTTON_ROLE
    return None
