"""Runs first at every boot; tiny and must never raise. It finishes a committed `gridpod deploy`
(app/deploy_switch.py, imported only when /.deploy/pending exists, so a normal boot spends no heap
on it), opens the maintenance window (hal/window.py: the hardware watchdog survives a soft reset,
so a host tool's Ctrl-D into the REPL must not leave it unfed; the window ends when the
application's scan loop feeds the watchdog, or with a reset into the application; not with
/SAFE_BOOT, whose board stays at the REPL) and announces the /SAFE_BOOT flag; main.py
(app/startup.py escape_reason) takes the safe-boot decision."""

import os


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


try:
    if _exists("/.deploy/pending"):
        import app.deploy_switch

        app.deploy_switch.run()
except Exception as e:  # noqa: BLE001 - a failed switch leaves a set that boots; never stop here
    print("boot.py: deploy switch failed:", repr(e))

if _exists("/SAFE_BOOT"):
    print("boot.py: /SAFE_BOOT present: main.py will not start the application")
else:
    try:
        import hal.window

        hal.window.boot()
    except ImportError:
        pass  # a firmware older than the window
    except Exception as e:  # noqa: BLE001 - a board file or a HAL that cannot: boot on
        print("boot.py: no maintenance window:", repr(e))
