"""What gunicorn runs under webstack:app:server (wsgi: its sync workers;
asgi: uvicorn's), as supervisor's program and as a new release's health
check; and the pillar values the schema turns away."""

import pytest
from conftest import load_pillar, with_settings
from test_nginx_render import args

UVICORN = "uvicorn.workers.UvicornWorker"


@pytest.fixture
def programs(render):
    def run(app):
        pillar = with_settings(load_pillar("minimal"), app={"source": {"path": "/opt/shop"}, **app})
        return render("debian-12", pillar, "supervisor.programs", roles=["web"])

    return run


def gunicorn_command(high):
    return args(high, "supervisor-gunicorn-program-is-configured")["context"]["command"].split()


def test_wsgi_runs_the_wsgi_app_on_gunicorns_own_workers(programs):
    high = programs({})
    command = gunicorn_command(high)
    assert command[0] == "/srv/shop/bin/with-env" and command[1] == "/srv/shop/current/.venv/bin/gunicorn"
    assert command[-1] == "shop.wsgi:application"
    assert "--worker-class" not in command and "-k" not in command
    deploy = args(high, "app-release-is-live")
    assert (deploy["app_module"], deploy["worker_class"]) == ("shop.wsgi:application", None)


@pytest.mark.parametrize(
    "app, module",
    [({}, "shop.asgi:application"), ({"asgi": "shop.routing:app"}, "shop.routing:app")],
    ids=["default", "set"],
)
def test_asgi_runs_the_asgi_app_on_uvicorns_workers(programs, app, module):
    high = programs({"server": "asgi", **app})
    command = gunicorn_command(high)
    assert command[-1] == module
    assert command[command.index("--worker-class") + 1] == UVICORN
    # Graceful reloads stay as they are: HUP, and the same graceful timeout.
    assert command[command.index("--graceful-timeout") + 1] == "30"
    assert args(high, "supervisor-runs-gunicorn")["reload_signal"] == "HUP"
    # The new release is checked as it will be served.
    deploy = args(high, "app-release-is-live")
    assert (deploy["app_module"], deploy["worker_class"]) == (module, UVICORN)


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"app": {"asgi": "shop/asgi.py"}}, "webstack:app:asgi: 'shop/asgi.py' is not a dotted Python path"),
        (
            {"nginx": {"websocket_timeout": 0}},
            "webstack:nginx:websocket_timeout: 0 is less than the minimum of 1",
        ),
        (
            {"balancer": {"timeouts": {"tunnel": "1h"}}},
            "webstack:balancer:timeouts:tunnel: '1h' is not of type",
        ),
    ],
    ids=["asgi", "websocket_timeout", "tunnel"],
)
def test_bad_values_of_the_new_keys_are_refused_naming_them(salt_loader, settings, problem):
    # (A bad webstack:app:server: test/pillars/bad.yaml.)
    pillar = with_settings(
        with_settings(load_pillar("minimal"), app={"source": {"path": "/opt/shop"}}), **settings
    )
    errors = salt_loader().salt["webstack.validate"](pillar, {"roles": ["web", "balancer"]})
    assert any(e.startswith(problem) for e in errors), errors
