# Shown at /version/: which release serves the page.
VERSION = "1"
