"""Pure control logic: no I/O, no clock. Every function takes readings and now_ms as arguments."""
