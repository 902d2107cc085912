"""Boot entry after boot.py: read /board.json, open its HAL, build and run the App until Ctrl-C.
Everything lives in app/startup.py; afterwards `app.state.reason` is readable at the REPL."""

import app.startup

app.startup.main()
