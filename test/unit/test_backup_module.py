"""
_modules/backup.py and _states/backup.py in-process: what the settings make
of pgBackRest's configuration, restic's environment and the timers; the
repository states' answers to what pgBackRest and restic say (their commands
faked with the outputs they really print); the status verdicts.
"""

import json

import pytest
from conftest import load_pillar, with_settings

STORE = {
    "path": None,
    "s3": {
        "endpoint": "https://store.example.com:9000",
        "bucket": "shop-backups",
        "key": "AKIAKEY",
        "secret": 'se"cret$x',
        "uri_style": "path",
        "ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    },
}


def settings(salt_loader, roles, **backup):
    pillar = with_settings(load_pillar("demo"), roles=roles, backup=backup)
    ldr = salt_loader(
        pillar=pillar, grains={"id": "db1", "os_family": "Debian", "os": "Debian", "osfinger": "Debian-12"}
    )
    return ldr.salt["webstack.settings"]()


def ini(text):
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def test_an_s3_repository_makes_an_encrypted_pgbackrest_config_and_restic_environment(salt_loader):
    b = settings(salt_loader, ["db", "web"], repository=STORE)["backup"]
    conf = ini(b["pgbackrest"]["contents"])
    assert conf["global"]["repo1-type"] == "s3"
    assert conf["global"]["repo1-s3-endpoint"] == "store.example.com"
    assert conf["global"]["repo1-storage-port"] == "9000"
    assert conf["global"]["repo1-s3-uri-style"] == "path"
    assert conf["global"]["repo1-storage-ca-file"] == b["store_ca"]
    assert conf["global"]["repo1-cipher-type"] == "aes-256-cbc"
    assert conf["global"]["repo1-cipher-pass"] == "demo-backup-passphrase-not-secret"
    assert conf["global"]["repo1-path"] == "/demo/db"
    assert conf["demo"] == {"pg1-path": "/var/lib/postgresql/15/main", "pg1-port": "5432"}
    assert b["archive"]["archive_command"] == "pgbackrest --stanza=demo archive-push %p"
    assert b["archive"]["archive_timeout"] == 60
    env = b["restic"]["env"]
    assert env["RESTIC_REPOSITORY"] == "s3:https://store.example.com:9000/shop-backups/demo/media"
    assert env["AWS_SECRET_ACCESS_KEY"] == 'se"cret$x'
    # systemd reads the environment file back unchanged: quotes and $ escaped.
    assert 'AWS_SECRET_ACCESS_KEY="se\\"cret\\$x"\n' in b["restic"]["env_contents"]
    assert b["restic"]["command"][-2:] == ["-o", "s3.bucket-lookup=path"]
    assert b["media"]["dir"] == "/srv/demo/shared/media"


def test_a_directory_repository_and_the_timers_of_a_db_and_web_box(salt_loader):
    b = settings(salt_loader, ["db", "web"])["backup"]
    conf = ini(b["pgbackrest"]["contents"])
    assert conf["global"]["repo1-type"] == "posix"
    assert conf["global"]["repo1-path"] == "/var/backups/webstack/demo/db"
    assert "repo1-s3-bucket" not in conf["global"] and b["store_ca"] is None
    assert b["restic"]["env"]["RESTIC_REPOSITORY"] == "/var/backups/webstack/demo/media"
    units = b["units"]
    assert sorted(units) == [f"webstack-backup-{k}" for k in ("diff", "full", "media", "status")]
    full = units["webstack-backup-full"]
    assert full["calendar"] == "Sun *-*-* 01:30:00" and full["user"] == "postgres"
    # A replica skips the run: the condition asks PostgreSQL.
    assert "pg_is_in_recovery()" in full["condition"]
    media = units["webstack-backup-media"]
    assert "--keep-hourly 24" in media["exec"][1] and "--host db1" in media["exec"][0]
    assert b["max_age_seconds"] == {"full": 8 * 86400, "backup": 26 * 3600, "wal": 600, "media": 7200}


@pytest.mark.parametrize(
    "roles, database, media",
    [(["db"], True, False), (["web"], False, True), (["worker"], False, False), (["balancer"], False, False)],
)
def test_each_box_backs_up_what_it_holds(salt_loader, roles, database, media):
    ws = settings(salt_loader, roles)
    if "backup" not in ws["components"]:
        assert not database and not media
        return
    b = ws["backup"]
    assert (b["database"]["active"], b["media"]["active"]) == (database, media)
    packages = [n for p in ws["facts"]["backup"]["packages"] for n in p["names"]]
    assert packages == (["pgbackrest"] if database else []) + (["restic"] if media else [])


def test_backups_off_leave_nothing_to_run_and_archiving_off(salt_loader):
    b = settings(salt_loader, ["db", "web"], enabled=False)["backup"]
    assert not b["active"] and b["units"] == {} and b["archive"] == {}
    assert b["archive_conf"] == "/etc/postgresql/15/main/conf.d/60-backup.conf"


def test_timespans_read_as_systemd_reads_them(salt_loader):
    timespan = salt_loader().salt["webstack.timespan"]
    assert [timespan(v) for v in ("90s", "10min", "26h", "1d 12h", "2w")] == [90, 600, 93600, 129600, 1209600]


# -- the states, against what pgBackRest and restic print ------------------------------------


class FakeTools:
    """pgbackrest, psql and restic as the states call them, with recorded calls."""

    def __init__(
        self, info=None, info_error=None, system_id="7300000000000000001", restic="snapshot", listing=""
    ):
        self.info = info
        self.info_error = info_error
        self.system_id = system_id
        self.listing = listing  # pgbackrest repo-ls backup/<stanza>
        self.restic = restic  # what the media repository holds: snapshot, empty, absent, wrong password
        self.calls = []

    def run_all(self, cmd, runas=None, env=None, **kwargs):
        self.calls.append(list(cmd))
        if cmd[0] == "pgbackrest" and cmd[-1] == "info":
            if self.info_error:
                return {"retcode": 49, "stdout": "", "stderr": self.info_error}
            return {"retcode": 0, "stdout": json.dumps([self.info]), "stderr": ""}
        if cmd[0] == "pgbackrest" and "repo-ls" in cmd:
            return {"retcode": 0, "stdout": self.listing, "stderr": ""}
        if cmd[0] == "psql":
            return {"retcode": 0, "stdout": self.system_id + "\n", "stderr": ""}
        if cmd[0] == "restic" and "snapshots" in cmd:
            if self.restic == "wrong password":
                return {"retcode": 1, "stdout": "", "stderr": "Fatal: wrong password or no key found"}
            if self.restic == "absent":
                text = (
                    "Fatal: unable to open config file: Stat: The specified key does not exist.\n"
                    "Is there a repository at the following location?"
                )
                return {"retcode": 1, "stdout": "", "stderr": text}
            if self.restic == "timeout":
                text = (
                    'Fatal: unable to open config file: Stat: Get "https://store/b/config":'
                    " net/http: TLS handshake timeout\nIs there a repository at the following location?"
                )
                return {"retcode": 1, "stdout": "", "stderr": text}
            snapshots = [{"short_id": "62a333df"}] if self.restic == "snapshot" else []
            return {"retcode": 0, "stdout": json.dumps(snapshots), "stderr": ""}
        return {"retcode": 0, "stdout": "", "stderr": ""}


def stanza(code, message="ok", system_id="7300000000000000001", cipher="aes-256-cbc", backups=()):
    return {
        "name": "shop",
        "status": {"code": code, "message": message},
        "cipher": cipher,
        "db": [{"id": 1, "system-id": int(system_id), "version": "15"}] if code != 1 else [],
        "backup": list(backups),
    }


@pytest.fixture
def tools(salt_loader, tmp_path):
    def make(test=False, **kw):
        fake = FakeTools(**kw)
        ldr = salt_loader(
            fakes={
                "cmd.run_all": fake.run_all,
                "cmd.has_exec": lambda name: True,
                "file.user_to_uid": lambda user: -1,
                "file.chown": lambda *a: True,
            },
            test=test,
        )
        fake.config = tmp_path / "pgbackrest.conf"
        fake.present = lambda contents="[global]\nrepo1-cipher-pass=p\n": ldr.states["backup.stanza_present"](
            "shop", str(fake.config), contents, 5432
        )
        fake.ldr = ldr
        return fake

    return make


def test_a_missing_stanza_is_created_and_the_config_written_without_showing_it(tools):
    t = tools(info=stanza(1, "missing stanza path"))
    ret = t.present("[global]\nrepo1-cipher-pass=TOPSECRET\n")
    assert ret["result"] is True, ret
    assert ret["changes"] == {
        "config": "updated (not shown: it holds the repository's secrets)",
        "stanza": "created",
    }
    assert "TOPSECRET" not in json.dumps(ret)
    assert oct(t.config.stat().st_mode & 0o777) == "0o640"
    assert ["pgbackrest", "--stanza=shop", "stanza-create"] in t.calls
    # The store was read with the new settings before they landed.
    probe = next(c for c in t.calls if c[-1] == "info")
    assert probe[1].startswith("--config=") and probe[1] != f"--config={t.config}"


def test_a_half_made_stanza_without_backups_is_removed_and_created_again(tools):
    t = tools(info=stanza(3, "missing stanza data"), listing="archive.info\n")
    ret = t.present()
    assert ret["result"] is True and ret["changes"]["stanza"] == "created"
    steps = [c[2:] for c in t.calls if c[0] == "pgbackrest" and c[-1] != "info"]
    assert steps == [
        ["repo-ls", "backup/shop"],
        ["stop"],
        ["stanza-delete", "--force"],
        ["start"],
        ["stanza-create"],
    ]


def test_a_damaged_stanza_holding_backups_is_left_for_a_person(tools):
    t = tools(info=stanza(3, "missing stanza data"), listing="20261203-114101F\nbackup.history\n")
    ret = t.present()
    assert ret["result"] is False and "holds backups ['20261203-114101F']" in ret["comment"]
    assert not [c for c in t.calls if "stanza-delete" in c or "stanza-create" in c]


def test_an_existing_stanza_of_this_cluster_changes_nothing_and_test_mode_agrees(tools):
    t = tools(info=stanza(0))
    t.config.write_text("[global]\nrepo1-cipher-pass=p\n")
    assert t.present() == {
        "name": "shop",
        "result": True,
        "changes": {},
        "comment": "stanza shop is in the repository",
    }
    dry = tools(test=True, info=stanza(0))
    assert dry.present()["result"] is True


def repo_error(message):
    """What pgbackrest info prints (exit 0) when it can't read the repository."""
    return dict(stanza(99, "other"), repo=[{"key": 1, "status": {"code": 99, "message": message}}])


def test_another_passphrase_is_refused_and_the_config_left_alone(tools):
    t = tools(
        info=repo_error("[FormatError] unable to load info file 'archive.info': key/value found outside")
    )
    t.config.write_text("[global]\nrepo1-cipher-pass=old\n")
    ret = t.present("[global]\nrepo1-cipher-pass=new\n")
    assert ret["result"] is False
    assert ret["comment"].startswith("webstack:backup:passphrase: the repository holds backups")
    assert "encryption can't change for an existing stanza" in ret["comment"]
    assert t.config.read_text() == "[global]\nrepo1-cipher-pass=old\n"


def test_an_unencrypted_stanza_is_refused(tools):
    ret = tools(info=stanza(0, cipher="none")).present()
    assert ret["result"] is False and "encryption can't change" in ret["comment"]


def test_an_unreachable_store_fails_saying_so(tools):
    t = tools(info_error="ERROR: [039]: HostConnectError: unable to connect to 'store:443': timeout")
    ret = t.present()
    assert ret["result"] is False
    assert ret["comment"].startswith("the backup repository can't be read (is the store reachable?)")


def test_a_store_that_does_not_answer_fails_saying_so(tools):
    ret = tools(info=repo_error("[HostConnectError] timeout")).present()
    assert ret["result"] is False
    assert (
        ret["comment"]
        == "the backup repository can't be read (is the store reachable?): [HostConnectError] timeout"
    )


def test_a_stanza_of_another_cluster_names_the_restore(tools):
    ret = tools(info=stanza(0, system_id="7300000000000000999")).present()
    assert ret["result"] is False
    assert "backs up another cluster" in ret["comment"] and "salt-call backup.restore_db" in ret["comment"]


def test_a_first_full_backup_is_taken_once(tools):
    t = tools(info=stanza(2, "no valid backups"))
    ret = t.ldr.states["backup.full_backup_exists"]("shop")
    assert ret["result"] is True and ret["changes"] == {"backup": "first full backup taken"}
    assert ["pgbackrest", "--stanza=shop", "--type=full", "backup"] in t.calls
    full = {"type": "full", "label": "x", "timestamp": {"start": 1, "stop": 2}}
    again = tools(info=stanza(0, backups=[full])).ldr.states["backup.full_backup_exists"]("shop")
    assert again["result"] is True and again["changes"] == {}


def media(fake, env, passphrase="right-passphrase"):
    return fake.ldr.states["backup.media_snapshot_exists"](
        "/srv/shop/shared/media", ["restic"], env, passphrase, "web1"
    )


def test_a_new_media_repository_is_made_with_its_first_snapshot_and_the_passphrase_lands_after(
    tools, tmp_path
):
    env = {"RESTIC_PASSWORD_FILE": str(tmp_path / "passphrase")}
    every = {
        "passphrase": "written (not shown)",
        "repository": "initialised",
        "snapshot": "first snapshot taken",
    }
    dry = tools(test=True, restic="absent")
    predicted = media(dry, env)
    assert predicted["result"] is None and predicted["changes"] == every
    assert len(dry.calls) == 1 and not (tmp_path / "passphrase").exists()

    t = tools(restic="absent")
    ret = media(t, env)
    assert ret["result"] is True and ret["changes"] == every, ret
    assert ["restic", "init"] in t.calls
    assert ["restic", "backup", "--host", "web1", "--tag", "media", "/srv/shop/shared/media"] in t.calls
    assert "right-passphrase" not in json.dumps(ret)
    assert (tmp_path / "passphrase").read_text() == "right-passphrase"
    assert oct((tmp_path / "passphrase").stat().st_mode & 0o777) == "0o600"

    again = tools()
    assert media(again, env) == {
        "name": "/srv/shop/shared/media",
        "result": True,
        "changes": {},
        "comment": "/srv/shop/shared/media has a snapshot",
    }
    assert len(again.calls) == 1, "one restic call when all is in place"
    empty = tools(restic="empty")
    assert media(empty, env)["changes"] == {"snapshot": "first snapshot taken"}
    assert ["restic", "init"] not in empty.calls


def test_another_media_passphrase_is_refused_and_the_old_one_kept(tools, tmp_path):
    (tmp_path / "passphrase").write_text("old-passphrase")
    env = {"RESTIC_PASSWORD_FILE": str(tmp_path / "passphrase")}
    ret = media(tools(restic="wrong password"), env, "new-passphrase")
    assert ret["result"] is False
    assert ret["comment"].startswith("webstack:backup:passphrase: the media repository was made with another")
    assert (tmp_path / "passphrase").read_text() == "old-passphrase"


def test_a_media_store_that_does_not_answer_fails_and_nothing_is_initialised(tools, tmp_path):
    t = tools(restic="timeout")
    ret = media(t, {"RESTIC_PASSWORD_FILE": str(tmp_path / "passphrase")})
    assert ret["result"] is False
    assert ret["comment"].startswith("the media repository can't be read (is the store reachable?)")
    assert len(t.calls) == 1 and not (tmp_path / "passphrase").exists()
