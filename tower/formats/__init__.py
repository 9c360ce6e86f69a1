"""Date formats of the console's locale (settings.FORMAT_MODULE_PATH)."""
