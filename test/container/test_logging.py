"""
logging: rsyslog forwards every syslog line, and nginx's log files, over TLS
to a receiver on the session's docker network (Papertrail's stand-in, see
syslog_receiver.py), keeps lines through an outage of the receiver, and sends
nothing to a server whose certificate doesn't carry the name it was told.
"""

import time
import uuid

import pytest
from conftest import converge, load_pillar, with_settings
from syslog_receiver import start_syslog_receiver

NGINX_LINE = '10.1.2.3 - - [25/Nov/2026:10:00:00 +0000] "GET /{marker} HTTP/1.1" 200 512 "-" "probe/1.0"'


def marker() -> str:
    return f"probe-{uuid.uuid4().hex[:10]}"


def log(box, *markers):
    for text in markers:
        box.exec(["logger", "--tag", "probe", text])


def logging_pillar(roles, **logging):
    return with_settings(load_pillar("minimal"), roles=roles, logging=logging)


def local_syslog(box) -> str:
    return box.exec(["cat", "/var/log/syslog"], check=False).stdout


def wait_in_local_syslog(box, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in local_syslog(box):
        assert time.monotonic() < deadline, f"{box.name}: {text!r} not in /var/log/syslog"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def receiver(boxes):
    return start_syslog_receiver(boxes, "logs")


@pytest.fixture(scope="module")
def web_pillar(receiver):
    return logging_pillar(["web"], remote=receiver.remote())


@pytest.fixture(scope="module")
def web(boxes, web_pillar):
    """A box of the web role forwarding to `receiver` (only the logging state applied)."""
    box = boxes.start("log-web")
    converge(box, web_pillar, "logging")
    return box


@pytest.fixture(scope="module")
def papertrail(boxes):
    """A receiver like Papertrail's: a wildcard certificate, reached by a name under it."""
    return start_syslog_receiver(
        boxes, "papertrail", cert_names=["*.papertrail.test"], aliases=["logs7.papertrail.test"]
    )


def test_a_logger_line_arrives(web, receiver):
    text = marker()
    log(web, text)
    line = receiver.wait_for(text, timeout=30)
    # RFC 5424, with the box's host name and the tag as APP-NAME.
    assert f" {web.exec(['hostname']).stdout.strip()} probe " in line, line


def test_a_service_output_caught_by_the_journal_arrives(web, receiver):
    text = marker()
    web.exec(["systemd-run", "--wait", "--unit", f"probe-{text}", "sh", "-c", f"echo {text}"])
    line = receiver.wait_for(text, timeout=30)
    assert " sh " in line or f"probe-{text}" in line, line


def test_lines_logged_while_the_receiver_is_down_arrive_after_it_is_back(web, receiver):
    texts = [marker() for _ in range(3)]
    receiver.stop()
    try:
        log(web, *texts)
        wait_in_local_syslog(web, texts[-1])
        time.sleep(2)  # well past the moment rsyslog found the connection gone
    finally:
        receiver.start()
    for text in texts:
        receiver.wait_for(text, timeout=60)


def test_queued_lines_are_kept_on_disk_across_a_restart_of_rsyslog(web, receiver):
    first, texts = marker(), [marker() for _ in range(3)]
    suspended = "action 'webstack_remote' suspended"
    before = local_syslog(web).count(suspended)
    receiver.stop()
    try:
        # The first line finds the connection closed and suspends forwarding;
        # it stays with the retrying action (not the queue) and is not
        # counted on below: a restart in the middle of an outage loses it.
        log(web, first)
        deadline = time.monotonic() + 30
        while local_syslog(web).count(suspended) <= before:
            assert time.monotonic() < deadline, "rsyslog did not notice the receiver is gone"
            time.sleep(0.5)
        log(web, *texts)
        wait_in_local_syslog(web, texts[-1])
        web.exec(["systemctl", "restart", "rsyslog"])
        spooled = web.exec("cat /var/spool/rsyslog/webstack_remote.0*", check=False).stdout
        assert all(text in spooled for text in texts), "the queue was not saved to disk on shutdown"
    finally:
        receiver.start()
    for text in texts:
        receiver.wait_for(text, timeout=60)


def test_nginx_access_lines_arrive_through_imfile_on_a_web_box(web, receiver):
    text = marker()
    web.exec(["mkdir", "-p", "/var/log/nginx"])
    web.exec(["sh", "-c", f"echo '{NGINX_LINE.format(marker=text)}' >> /var/log/nginx/access.log"])
    line = receiver.wait_for(text, timeout=30)
    assert " nginx-access " in line and '"GET /' in line, line
    # Forwarded only: the file is on the disk already, syslog doesn't get a copy.
    assert text not in local_syslog(web)


def test_the_check_before_a_change_lands_rejects_a_broken_configuration(web):
    # What the config state's check_cmd runs on the candidate: it passes the
    # live file and fails one with a misspelt parameter.
    live = "/etc/rsyslog.d/10-webstack-remote.conf"
    assert web.exec(["rsyslogd", "-N1", "-f", live], check=False).rc == 0
    web.exec(f"sed 's/StreamDriverMode=/StreamDriverMoed=/' {live} > /etc/rsyslog.d/broken.candidate")
    try:
        check = web.exec(["rsyslogd", "-N1", "-f", "/etc/rsyslog.d/broken.candidate"], check=False)
    finally:
        web.exec(["rm", "-f", "/etc/rsyslog.d/broken.candidate"])
    assert check.rc != 0 and "StreamDriverMoed" in check.stderr + check.stdout, check


def test_idempotent(web, web_pillar, idempotent):
    idempotent(web, web_pillar, "logging")


def test_nothing_is_sent_to_a_server_whose_certificate_lacks_the_name(boxes, papertrail):
    # Its container name resolves, but its certificate is for *.papertrail.test only.
    box = boxes.start("log-mismatch")
    converge(box, logging_pillar([], remote=papertrail.remote()), "logging")
    text = marker()
    log(box, text)
    # The box connects and completes the handshake, then sends nothing.
    papertrail.wait_for_event(rf" handshake {box.ip()} ", timeout=30)
    time.sleep(3)
    assert papertrail.lines() == [], papertrail.lines()
    wait_in_local_syslog(box, "peer name not authorized")


def test_papertrail_style_wildcard_certificate_with_permitted_peers(boxes, papertrail):
    box = boxes.start("log-wildcard")
    # The CA as a bundle already on the box (ca_file), as the system's would be.
    box.put_file("/etc/ssl/papertrail-test-bundle.pem", papertrail.ca_pem)
    remote = {
        "host": "logs7.papertrail.test",
        "port": papertrail.port,
        "ca_file": "/etc/ssl/papertrail-test-bundle.pem",
        "permitted_peers": ["*.papertrail.test"],
    }
    converge(box, logging_pillar([], remote=remote), "logging")
    text = marker()
    log(box, text)
    papertrail.wait_for(text, timeout=30)


def test_without_a_remote_logging_stays_local(boxes, receiver):
    box = boxes.start("log-local")
    converge(box, logging_pillar([], remote=receiver.remote()), "logging")
    converge(box, logging_pillar([]), "logging")
    assert box.exec(["systemctl", "is-active", "rsyslog"]).stdout.strip() == "active"
    connect = f" connect {box.ip()}"
    connects = [e for e in receiver.events() if e.endswith(connect)]
    text = marker()
    log(box, text)
    wait_in_local_syslog(box, text)
    time.sleep(3)
    assert not any(text in line for line in receiver.lines())
    assert [e for e in receiver.events() if e.endswith(connect)] == connects
