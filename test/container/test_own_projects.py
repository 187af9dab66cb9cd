"""
Apps other than the example Django app, deployed as a new user deploys their
own, with the pillar of the README's "Deploy your own project" (web, db and
cache on one box, no Celery, no broker), served through nginx over TLS:

- the Flask example (example/flask/: the Django hooks off, a health path of
  its own, its files under /assets/), and a second apply changes nothing;
- then, on the same box, a project made now by `django-admin startproject`
  (the Django of the tests' own environment) with exactly the blocks of that
  README section added: its admin logs a user in, its stylesheets come from
  nginx.

The README's blocks are read here, so the documentation can't drift from
what is tested.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest
import yaml
from conftest import converge, converged_to, with_settings
from figures import report
from site_client import CERTIFICATE, fetch, pin

from tools.harness.dockerbox import MOUNT, REPO

SECTION = "Deploy your own project"
PROJECT = "mysite"  # the name the README's startproject, settings and pillar use
ROOT = f"/srv/{PROJECT}"
SOURCE = f"/root/src/{PROJECT}"  # where the test puts the startproject project in the box
FLASK = REPO / "example" / "flask"


def readme_blocks() -> list[tuple[str, str, str]]:
    """The fenced blocks of the README's SECTION: (language, first line, text)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.S | re.M)
    return [(lang, text.split("\n", 1)[0], text) for lang, text in blocks]


def readme_pillar(start: str) -> dict:
    """The README's pillar block whose first line starts with `start`."""
    found = [text for lang, first, text in readme_blocks() if lang == "yaml" and first.startswith(start)]
    assert len(found) == 1, f"one pillar block starting {start!r} in the README, found {len(found)}"
    return yaml.safe_load(found[0])


def project_edits() -> dict[str, str]:
    """{path in the project: the README's block for it}: every block that is not a pillar."""
    edits = {}
    for lang, first, text in readme_blocks():
        if lang != "yaml":
            edits[re.fullmatch(r"# (\S+): .*", first).group(1)] = text
    return edits


# The README's pillar, served over TLS with the box's own certificate (the
# README leaves TLS to pillar.example), the code from a directory on the box,
# and a database password DATABASE_URL must percent-encode (the settings
# block decodes it).
DJANGO = with_settings(
    readme_pillar("# salt/pillar/mysite.sls: the pillar"),
    app={"source": {"git": None, "path": SOURCE}},
    nginx={"tls": {"enabled": True, "self_signed": True}},
    postgresql={"password": "own/project@db:pass%word"},
)
DOMAIN = DJANGO["webstack"]["project"]["domains"][0]
FLASK_PILLAR = with_settings(
    with_settings(DJANGO, **readme_pillar("# salt/pillar/mysite.sls, for a Flask app")["webstack"]),
    app={"source": {"path": f"{MOUNT}/example/flask"}},
)


@pytest.fixture(scope="module")
def box(boxes):
    return boxes.start("own")


def test_the_flask_example_serves_a_page_its_files_and_its_health_path(box, request):
    # It has no manage.py: a Django hook left on would fail the deploy.
    done = converged_to(box, FLASK_PILLAR)
    if done:
        report(request, f"own projects: the Flask example's first converge: {done.summary()}")
    pin(box)
    status, page = fetch(box, "/", host=DOMAIN)
    assert status == 200, page
    # DATABASE_URL reached the app (it only reports it; it runs without one too).
    assert f'<p id="database">postgresql on 127.0.0.1:5432, database {PROJECT}</p>' in page, page
    css = re.search(r'href="(/assets/[^"]+)"', page).group(1)
    assert fetch(box, css, host=DOMAIN) == (200, (FLASK / "static" / "site.css").read_text())
    assert fetch(box, "/healthz", host=DOMAIN) == (200, '{"status":"ok"}\n')


def test_a_second_apply_of_the_flask_example_changes_nothing(box, idempotent, request):
    converged_to(box, FLASK_PILLAR)
    again = idempotent(box, FLASK_PILLAR)
    report(request, f"own projects: the Flask example re-applied: {again.summary()}")


@pytest.fixture
def startproject(tmp_path) -> Path:
    """`django-admin startproject` now, the README's blocks added; returns the project's root."""
    subprocess.run([sys.executable, "-m", "django", "startproject", PROJECT, str(tmp_path)], check=True)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    edits = project_edits()
    assert set(edits) == {f"{PROJECT}/settings.py", f"{PROJECT}/urls.py", "requirements.txt"}, edits
    # The project runs on the Django that made it.
    assert f"\nDjango=={django.__version__}\n" in edits["requirements.txt"]
    for path, block in edits.items():
        target = tmp_path / path
        if path in made:
            target.write_text(target.read_text() + "\n\n" + block)
        else:
            target.write_text(block)
    return tmp_path


def copy_project(box, root: Path) -> None:
    """The project's files (as a git checkout holds them) to SOURCE in the box."""
    box.exec(["rm", "-rf", SOURCE])
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        box.put_file(
            f"{SOURCE}/{path.relative_to(root).as_posix()}", path.read_bytes(), path.stat().st_mode & 0o777
        )


JAR = "/tmp/admin.jar"  # curl's cookies in the box


def curl(box, path: str, *args: str) -> str:
    """curl through nginx on the box over TLS, keeping cookies in JAR as a browser does."""
    tls = ["--resolve", f"{DOMAIN}:443:127.0.0.1", "--cacert", CERTIFICATE]
    res = box.exec(
        ["curl", "-sS", "--fail-with-body", *tls, "-b", JAR, "-c", JAR, *args, f"https://{DOMAIN}{path}"]
    )
    return res.stdout


def test_a_startproject_project_with_the_readme_edits_serves_its_admin(box, startproject, request):
    copy_project(box, startproject)
    t0 = time.monotonic()
    deployed = converge(box, DJANGO)
    changes = deployed.by_id["app-release-is-live"]["changes"]
    assert changes["hooks"] == ["migrate", "collectstatic"], changes
    report(request, f"own projects: the startproject project deployed in {time.monotonic() - t0:.1f} s")
    pin(box)

    status, login = fetch(box, "/admin/login/", host=DOMAIN)
    assert status == 200 and "csrfmiddlewaretoken" in login, login
    # The admin's stylesheets, from STATIC_ROOT through nginx: the files of
    # the Django that made the project.
    sheets = re.findall(r'href="/static/(admin/css/[^"]+\.css)"', login)
    assert "admin/css/base.css" in sheets, login
    admin_static = Path(django.__file__).parent / "contrib" / "admin" / "static"
    for sheet in sheets:
        assert fetch(box, f"/static/{sheet}", host=DOMAIN) == (200, (admin_static / sheet).read_text())

    # A user made with bin/manage (the database in PostgreSQL, through
    # DATABASE_URL) logs in as a browser does over https: the Origin check of
    # CSRF passes only when the request reaches Django as https.
    password = "own-project-admin-7c1e"
    box.exec(
        [f"{ROOT}/bin/manage", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.test"],
        env={"DJANGO_SUPERUSER_PASSWORD": password},
    )
    box.exec(["rm", "-f", JAR])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', curl(box, "/admin/login/")).group(1)
    form = [f"csrfmiddlewaretoken={token}", "username=admin", f"password={password}"]
    answer = curl(
        box,
        "/admin/login/?next=/admin/",
        *["-H", f"Origin: https://{DOMAIN}", "-e", f"https://{DOMAIN}/admin/login/"],
        *[arg for field in form for arg in ("--data-urlencode", field)],
        *["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"],
    )
    assert answer == f"302 https://{DOMAIN}/admin/", answer
    assert "Site administration" in curl(box, "/admin/")
