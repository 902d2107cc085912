"""Runs first at every boot; tiny and must never raise. It only announces the /SAFE_BOOT flag;
main.py (app/escape.py) takes the decision and also reads the SAFE_MODE_BUTTON role."""

try:
    import os

    os.stat("/SAFE_BOOT")
    print("boot.py: /SAFE_BOOT present: main.py will not start the application")
except Exception:  # noqa: BLE001 - absence of the flag (or anything else) must not stop the boot
    pass
