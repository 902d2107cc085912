"""Jobs on one device over its console: the REPL session (session.py), deploy, config, the event
log reader and the doctor."""
