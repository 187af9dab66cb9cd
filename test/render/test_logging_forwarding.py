"""The logging role without a box: the pillars its schema turns away, what
webstack_logging.forwarding works out, the SLS compiled for our releases and
the rsyslog configuration its template writes."""

import copy
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import OS_GRAINS, load_pillar, with_settings

from tools.harness.dockerbox import REPO

CA = "-----BEGIN CERTIFICATE-----\nMIIBizCCATGgAwIBAgIUe0uKCIGn3cpP=\n-----END CERTIFICATE-----\n"
DEFAULTS = yaml.safe_load((REPO / "salt/states/logging/defaults.yaml").read_text())
FOLLOWS = yaml.safe_load((REPO / "salt/states/logging/component.yaml").read_text())["follows"]
TEMPLATE = REPO / "salt/states/logging/files/remote.conf.jinja"
CONFIG_ID = "logging-rsyslog-forwards-everything-to-the-remote-over-tls"
PAPERTRAIL = {"host": "logs7.papertrailapp.com", "port": 31415, "permitted_peers": ["*.papertrailapp.com"]}


def pillar(**logging):
    return with_settings(load_pillar("minimal"), logging=logging)


def settings(components=(), **logging):
    """The `ws` forwarding() reads: the role's defaults under `logging`."""
    conf = copy.deepcopy(DEFAULTS)
    for key, value in logging.items():
        conf[key] = {**conf[key], **value} if isinstance(value, dict) else value
    return {"logging": conf, "components": list(components), "facts": {"logging": {"follows": FOLLOWS}}}


@pytest.fixture
def loader(salt_loader):
    return salt_loader().salt


@pytest.fixture
def forwarding(loader):
    return loader["webstack_logging.forwarding"]


# -- the schema ----------------------------------------------------------------


def test_a_papertrail_pillar_is_valid(loader):
    remote = {**PAPERTRAIL, "ca": CA + CA, "ca_file": "/etc/ssl/certs/ca-certificates.crt"}
    files = [{"path": "/srv/shop/log/*.log", "tag": "shop", "severity": "warning"}]
    good = pillar(remote=remote, files=files, queue={"max_disk_space": "512m"})
    assert loader["webstack.validate"](good, {"roles": []}) == []


@pytest.mark.parametrize(
    "logging, key",
    [
        ({"remote": {"host": "logs 7.example.com", "port": 514}}, "webstack:logging:remote:host"),
        ({"remote": {"host": "*.papertrailapp.com", "port": 514}}, "webstack:logging:remote:host"),
        ({"remote": {"host": "logs.example.com"}}, "webstack:logging:remote:port"),
        ({"remote": {"host": "logs.example.com", "port": 0}}, "webstack:logging:remote:port"),
        ({"remote": {"host": "logs.example.com", "port": 65536}}, "webstack:logging:remote:port"),
        ({"remote": {"host": "logs.example.com", "port": "514"}}, "webstack:logging:remote:port"),
        (
            {"remote": {"host": "logs.example.com", "port": 514, "ca": "MIIB..."}},
            "webstack:logging:remote:ca",
        ),
        (
            {
                "remote": {
                    "host": "logs.example.com",
                    "port": 514,
                    "ca": CA.replace("CERTIFICATE", "PRIVATE KEY"),
                }
            },
            "webstack:logging:remote:ca",
        ),
        ({"remote": {"ca_file": "ca.pem"}}, "webstack:logging:remote:ca_file"),
        ({"remote": {"permitted_peers": ["not a name"]}}, "webstack:logging:remote:permitted_peers:0"),
        ({"remote": {"hots": "logs.example.com"}}, "webstack:logging:remote:hots"),
        ({"queue": {"max_disk_space": "lots"}}, "webstack:logging:queue:max_disk_space"),
        ({"files": [{"path": "log/app.log", "tag": "app"}]}, "webstack:logging:files:0:path"),
        ({"files": [{"path": '/srv/"app".log', "tag": "app"}]}, "webstack:logging:files:0:path"),
        ({"files": [{"path": "/srv/app.log", "tag": "my app"}]}, "webstack:logging:files:0:tag"),
        ({"files": [{"path": "/srv/app.log"}]}, "webstack:logging:files:0:tag"),
        (
            {"files": [{"path": "/srv/app.log", "tag": "app", "severity": "fatal"}]},
            "webstack:logging:files:0:severity",
        ),
        (
            {"nginx_files": [{"path": "/var/log/nginx/a.log", "tag": "a", "facility": "local7"}]},
            "webstack:logging:nginx_files:0:facility",
        ),
    ],
)
def test_bad_pillar_names_the_key(loader, logging, key):
    errors = loader["webstack.validate"](pillar(**logging), {"roles": []})
    assert any(e.startswith(key + ":") for e in errors), errors


# -- what is forwarded ---------------------------------------------------------


def test_no_remote_host_forwards_nothing(forwarding):
    fwd = forwarding(settings(components=["nginx"]))
    assert fwd == {"enabled": False, "config": fwd["config"], "ca_path": fwd["ca_path"]}
    assert fwd["config"].startswith("/etc/rsyslog.d/") and fwd["config"].endswith(".conf")


def test_the_host_is_the_permitted_peer_and_the_system_bundle_the_ca(forwarding):
    fwd = forwarding(settings(remote={"host": "logs.example.com", "port": 6514}))
    assert fwd["peers"] == ["logs.example.com"]
    assert fwd["ca"] is None and fwd["ca_file"] == "/etc/ssl/certs/ca-certificates.crt"
    assert fwd["inputs"] == [] and fwd["max_disk_space"] == "1g"


def test_a_ca_from_the_pillar_is_trusted_instead(forwarding):
    fwd = forwarding(settings(remote={**PAPERTRAIL, "ca": CA}))
    assert fwd["ca"] == CA and fwd["ca_file"] == fwd["ca_path"]
    assert fwd["peers"] == ["*.papertrailapp.com"]


def test_nginx_logs_are_followed_only_where_nginx_runs(forwarding):
    files = [
        {"path": "/srv/shop/log/app.log", "tag": "shop"},
        {"path": "/var/log/nginx/access.log", "tag": "again"},  # listed twice: followed once
    ]
    web = forwarding(settings(components=["base", "logging", "nginx"], remote=PAPERTRAIL, files=files))
    assert [(i["path"], i["tag"], i["severity"]) for i in web["inputs"]] == [
        ("/var/log/nginx/access.log", "nginx-access", "info"),
        ("/var/log/nginx/error.log", "nginx-error", "error"),
        ("/srv/shop/log/app.log", "shop", None),
    ]
    worker = forwarding(settings(components=["base", "logging", "app"], remote=PAPERTRAIL, files=files))
    assert [i["path"] for i in worker["inputs"]] == ["/srv/shop/log/app.log", "/var/log/nginx/access.log"]


def test_reads_are_what_the_apparmor_profile_does_not_cover(forwarding):
    files = [{"path": "/srv/shop/log/*.log", "tag": "shop"}]
    fwd = forwarding(settings(components=["nginx"], remote=PAPERTRAIL, files=files))
    assert fwd["reads"] == ["/etc/ssl/certs/ca-certificates.crt", "/srv/shop/log/", "/srv/shop/log/*.log"]
    fwd = forwarding(settings(components=["nginx"], remote={**PAPERTRAIL, "ca": CA}))
    assert fwd["reads"] == []  # its own CA and /var/log are in the profile


# -- the SLS -------------------------------------------------------------------


def args(high, state_id):
    body = high[state_id]
    fun_args = next(v for k, v in body.items() if not k.startswith("__"))
    out = {"fun": next(a for a in fun_args if isinstance(a, str))}
    for item in fun_args:
        if isinstance(item, dict):
            out.update(item)
    return out


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_forwarding_is_checked_before_it_lands_and_restarts_rsyslog(render, os_name):
    high = render(os_name, pillar(remote={**PAPERTRAIL, "ca": CA}), "logging", roles=[])
    conf = args(high, CONFIG_ID)
    assert conf["check_cmd"] == "rsyslogd -N1 -f" and conf["tmp_dir"] == "/etc/rsyslog.d"
    assert conf["name"] == conf["context"]["fwd"]["config"]
    assert {"pkg": "logging-rsyslog-is-installed"} in conf["require"]
    ca = args(high, "logging-rsyslog-trusts-the-ca-of-the-remote")
    assert ca["contents"] == CA and ca["mode"] == "0644"
    assert args(high, "logging-rsyslog-is-installed")["pkgs"] == [
        "rsyslog",
        "rsyslog-gnutls",
        "ca-certificates",
    ]
    service = args(high, "logging-rsyslog-runs-and-restarts-on-changes")
    assert service["fun"] == "running" and service["enable"] is True
    assert {"sls": "logging.forward"} in service["watch"]
    apparmor = "logging-apparmor-profile-of-rsyslogd-is-reloaded"
    assert (apparmor in high) == (os_name in ("ubuntu-24.04", "ubuntu-26.04"))


def test_ubuntu_24_04_lets_rsyslogd_read_the_system_bundle_and_followed_files(render):
    files = [{"path": "/srv/shop/log/app.log", "tag": "shop"}]
    high = render("ubuntu-24.04", pillar(remote=PAPERTRAIL, files=files), "logging", roles=[])
    snippet = args(high, "logging-apparmor-lets-rsyslogd-read-what-it-forwards")
    assert snippet["name"] == "/etc/apparmor.d/rsyslog.d/webstack-logging"
    rules = [line for line in snippet["contents"].splitlines() if not line.startswith("#")]
    assert rules == [
        '"/etc/ssl/certs/ca-certificates.crt" r,',
        '"/srv/shop/log/" r,',
        '"/srv/shop/log/app.log" r,',
    ]
    reload = args(high, "logging-apparmor-profile-of-rsyslogd-is-reloaded")
    assert reload["onchanges"] == [{"file": "logging-apparmor-lets-rsyslogd-read-what-it-forwards"}]
    assert "aa-enabled" in reload["onlyif"]
    assert args(high, "logging-ca-file-of-the-remote-exists")["name"] == "/etc/ssl/certs/ca-certificates.crt"


def test_without_a_remote_the_forwarding_files_go(render):
    high = render("debian-12", pillar(), "logging", roles=[])
    gone = args(high, "logging-rsyslog-forwards-nothing")
    assert gone["fun"] == "absent"
    assert gone["names"] == [
        "/etc/rsyslog.d/10-webstack-remote.conf",
        "/etc/rsyslog.d/webstack-remote-ca.pem",
    ]
    assert args(high, "logging-rsyslog-is-installed")["pkgs"] == ["rsyslog"]
    assert CONFIG_ID not in high


def test_the_demo_web_box_follows_nginx_logs(render):
    demo = with_settings(load_pillar("demo"), logging={"remote": PAPERTRAIL})
    high = render("debian-12", demo, "logging", roles=["web"])
    inputs = args(high, CONFIG_ID)["context"]["fwd"]["inputs"]
    assert [i["path"] for i in inputs] == ["/var/log/nginx/access.log", "/var/log/nginx/error.log"]


# -- the rsyslog configuration -------------------------------------------------


def rsyslog_conf(fwd):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(Path(TEMPLATE).read_text()).render(fwd=fwd)


def test_the_configuration_forwards_over_tls_checking_the_name(forwarding):
    text = rsyslog_conf(forwarding(settings(remote=PAPERTRAIL)))
    for line in (
        'target="logs7.papertrailapp.com"',
        'port="31415"',
        'protocol="tcp"',
        'StreamDriver="gtls"',
        'StreamDriverMode="1"',
        'StreamDriverAuthMode="x509/name"',
        'StreamDriverPermittedPeers="*.papertrailapp.com"',
        'StreamDriver.CAFile="/etc/ssl/certs/ca-certificates.crt"',
        'queue.type="LinkedList"',
        'queue.filename="webstack_remote"',
        'queue.saveOnShutdown="on"',
        'queue.maxDiskSpace="1g"',
        'action.resumeRetryCount="-1"',
    ):
        assert line in text, line
    assert "\ncall webstack_remote\n" in text
    assert "imfile" not in text


def test_the_configuration_follows_files_into_the_forwarding_only(forwarding):
    files = [{"path": "/srv/shop/log/app.log", "tag": "shop"}]
    text = rsyslog_conf(forwarding(settings(components=["nginx"], remote=PAPERTRAIL, files=files)))
    assert 'module(load="imfile" statefile.directory="/var/spool/rsyslog")' in text
    inputs = [line for line in text.splitlines() if line.startswith("input(")]
    assert inputs == [
        'input(type="imfile" file="/var/log/nginx/access.log" tag="nginx-access:" severity="info"'
        ' ruleset="webstack_remote")',
        'input(type="imfile" file="/var/log/nginx/error.log" tag="nginx-error:" severity="error"'
        ' ruleset="webstack_remote")',
        'input(type="imfile" file="/srv/shop/log/app.log" tag="shop:" ruleset="webstack_remote")',
    ]
