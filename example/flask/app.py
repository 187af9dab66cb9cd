"""
A small Flask app deployed by the same pillar keys as the Django example
(test material: test/container/test_own_projects.py), with the Django hooks
off: gunicorn serves `app:app`, the release's health check asks /healthz.

What it reads from the environment the app component writes (<root>/env):
SECRET_KEY (required: made on the box), ALLOWED_HOSTS (comma-separated: the
host names it answers to) and DATABASE_URL, which it only reports: an app
without a database runs as well.
"""

import os
from urllib.parse import urlsplit

from flask import Flask, url_for
from markupsafe import escape

# nginx answers /static/ from STATIC_ROOT (what Django's collectstatic
# fills): the app's own files go under another path, served by the app.
app = Flask(__name__, static_url_path="/assets")
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
# None (no ALLOWED_HOSTS: a local run) answers any host name.
app.config["TRUSTED_HOSTS"] = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()
] or None


def database():
    """Where DATABASE_URL points (never its password), or None without one."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme} on {parts.hostname}:{parts.port}, database {parts.path.lstrip('/')}"


@app.get("/")
def index():
    return (
        "<!doctype html><title>Flask on webstack</title>"
        f'<link rel="stylesheet" href="{url_for("static", filename="site.css")}">'
        "<h1>Flask on webstack</h1>"
        f'<p id="database">{escape(database() or "no database")}</p>'
    )


@app.get("/healthz")
def health():
    return {"status": "ok"}
