"""Composition root: scheduler, config store, event log, boot guard, safe/maintenance mode, App."""
