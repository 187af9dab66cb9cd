"""
The backup repositories: pgBackRest's configuration and stanza, and restic's
media repository, checked against what the store really holds.

.. code-block:: yaml

    backup-repository-holds-this-clusters-stanza:
      backup.stanza_present:
        - name: shop
        - config: /etc/pgbackrest/pgbackrest.conf
        - contents: "[global]\\nrepo1-type=s3\\n..."
        - port: 5432

    backup-media-repository-holds-a-snapshot:
      backup.media_snapshot_exists:
        - name: /srv/shop/shared/media
        - command: [restic, --cache-dir, /var/cache/restic]
        - env: {RESTIC_REPOSITORY: ..., RESTIC_PASSWORD_FILE: ..., AWS_ACCESS_KEY_ID: ...}
        - passphrase: ...
        - host: web1

The configuration (and restic's passphrase file) holds the repository's
secrets: never shown (changes say only that it was updated), it lands only
after the store was read with it, so settings the repository can't be read with (another
passphrase, encryption turned on for an existing stanza, a store that does
not answer) fail the state and leave the running archiving alone.
"""

import json
import os
import re
import tempfile

__virtualname__ = "backup"

# pgbackrest info's status codes (pgBackRest's docs, "info" command).
STANZA_OK, MISSING_STANZA, NO_BACKUP, MISSING_DATA = 0, 1, 2, 3
# restic's words for "no repository here yet" (on S3, in a directory); it
# adds "Is there a repository at the following location?" to every failure.
RESTIC_ABSENT = ("The specified key does not exist", "no such file or directory")


def __virtual__():
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


# The commands read and print secrets (passphrases, keys): never logged.
QUIET = {"python_shell": False, "output_loglevel": "quiet", "ignore_retcode": True}


def _run(cmd, runas=None, env=None, timeout=None):
    return __salt__["cmd.run_all"](cmd, runas=runas, env=env, timeout=timeout, **QUIET)


def _text(res):
    return (res.get("stderr") or res.get("stdout") or "").strip()


def _info(config, stanza):
    """(stanza's info, None) or (None, why the repository can't be read); config None: pgBackRest's own."""
    found = __salt__["backup.pgbackrest_info"](**({"config": config} if config else {}), stanza=stanza)
    if not found["ok"]:
        return None, found["error"]
    return found["stanza"] or {"status": {"code": MISSING_STANZA}}, None


def _staged(contents, user="postgres"):
    """A private copy of `contents` that `user` alone (pgBackRest's postgres, restic's root) can read."""
    fd, path = tempfile.mkstemp(prefix="webstack-backup-")
    with os.fdopen(fd, "w") as handle:
        handle.write(contents)
    os.chown(path, __salt__["file.user_to_uid"](user), -1)
    return path


def _refusal(error):
    """What a failed read of the repository means, for the operator."""
    # A wrong passphrase: CryptoError, or the decrypted junk unparsable
    # (FormatError); no encryption set for an encrypted stanza: Salted__.
    if any(
        word in error for word in ("CryptoError", "FormatError", "Salted__", "is or was the repo encrypted")
    ):
        return (
            "webstack:backup:passphrase: the repository holds backups this passphrase (or encryption setting)"
            " can't read; encryption can't change for an existing stanza: give its passphrase, or a new"
            f" repository:prefix for a new one. pgBackRest said: {error}"
        )
    return f"the backup repository can't be read (is the store reachable?): {error}"


def _local_system_id(port):
    res = _run(
        [
            "psql",
            "-XAtq",
            "-p",
            str(port),
            "-d",
            "postgres",
            "-c",
            "SELECT system_identifier FROM pg_control_system()",
        ],
        runas="postgres",
    )
    return res["stdout"].strip() if res["retcode"] == 0 else None


def stanza_present(name, config, contents, port):
    """
    pgBackRest's configuration at `config` is `contents`, and the repository
    holds stanza `name` of this cluster (the PostgreSQL on `port`), created
    when missing (also after a run that stopped half way).

    name
        The stanza (the project's name).
    config
        pgBackRest's configuration file; written mode 0640, postgres's.
    contents
        Its text.
    port
        The cluster's port (its system identifier must match the stanza's).
    """
    ret = _ret(name)
    current = None
    if os.path.exists(config):
        with open(config) as handle:
            current = handle.read()
    if not __salt__["cmd.has_exec"]("pgbackrest"):
        # A dry run before the package is in.
        ret["result"] = None
        ret["changes"] = {"config": "would be written", "stanza": "would be created"}
        ret["comment"] = "pgBackRest is not installed yet"
        return ret

    probe = _staged(contents) if current != contents else config
    try:
        stanza, error = _info(probe, name)
    finally:
        if probe != config:
            os.unlink(probe)
    if error:
        ret["result"] = False
        ret["comment"] = _refusal(error)
        return ret
    code = stanza["status"]["code"]
    if code not in (STANZA_OK, MISSING_STANZA, NO_BACKUP, MISSING_DATA):
        # "other": the repository's own status says what went wrong.
        why = [r["status"]["message"] for r in stanza.get("repo") or [] if r.get("status", {}).get("code")]
        ret["result"] = False
        ret["comment"] = _refusal(
            "; ".join(why) or f"stanza {name}: {stanza['status'].get('message')} (code {code})"
        )
        return ret
    if code != MISSING_STANZA and stanza.get("cipher") not in (None, "aes-256-cbc"):
        ret["result"] = False
        ret["comment"] = _refusal(
            f"Salted__ expected: stanza {name} is stored with cipher {stanza.get('cipher')}"
        )
        return ret
    if current != contents:
        ret["changes"]["config"] = "updated (not shown: it holds the repository's secrets)"
    if code in (MISSING_STANZA, MISSING_DATA):
        ret["changes"]["stanza"] = "created"
    if __opts__["test"]:
        ret["result"] = None if ret["changes"] else True
        ret["comment"] = "would be set up" if ret["changes"] else f"stanza {name} is in the repository"
    elif current != contents:
        # The store was read with these settings: they are right, whatever
        # follows (a restore on a new box reads them).
        __salt__["file.mkdir"](os.path.dirname(config))
        with open(config, "w") as handle:
            os.fchmod(handle.fileno(), 0o640)
            handle.write(contents)
        __salt__["file.chown"](config, "postgres", "postgres")

    databases = stanza.get("db") or []
    local = _local_system_id(port)
    if databases and local and str(databases[-1]["system-id"]) != local:
        ret["result"] = False
        ret["comment"] = (
            f"stanza {name} in the repository backs up another cluster"
            f" (system id {databases[-1]['system-id']}, this one {local}):"
            " on a new box restore it (salt-call backup.restore_db) and apply again;"
            " for a cluster that replaces it for good, give a new webstack:backup:repository:prefix"
        )
        return ret
    if __opts__["test"]:
        return ret
    if code == MISSING_DATA:
        # A stanza-create cut short (its archive.info made, backup.info not)
        # is refused by the next stanza-create: remove it, unless it holds
        # backups (then its damage needs a person).
        error = _remove_half_made_stanza(name)
        if error:
            ret.update(result=False, changes={}, comment=error)
            return ret
    if "stanza" in ret["changes"]:
        res = _run(["pgbackrest", f"--stanza={name}", "stanza-create"], runas="postgres")
        if res["retcode"] != 0:
            ret["result"] = False
            ret["comment"] = f"pgbackrest stanza-create failed: {_text(res)}"
            return ret
    ret["comment"] = f"stanza {name} is in the repository"
    return ret


def _remove_half_made_stanza(name):
    """Remove stanza `name`, half made and without backups; returns why not, or None."""
    pgbackrest = ["pgbackrest", f"--stanza={name}"]
    listed = _run([*pgbackrest, "repo-ls", f"backup/{name}"], runas="postgres")
    labels = [n for n in listed["stdout"].split() if re.fullmatch(r"\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?", n)]
    if listed["retcode"] != 0 or labels:
        return (
            f"stanza {name} is damaged (its info files are incomplete) and holds backups {labels}:"
            f" repair it by hand (pgbackrest's stanza-create HINT): {_text(listed)}"
        )
    for step in ("stop", "stanza-delete --force", "start"):
        res = _run([*pgbackrest, *step.split()], runas="postgres")
        if res["retcode"] != 0:
            return f"pgbackrest {step} of the half-made stanza {name} failed: {_text(res)}"
    return None


def full_backup_exists(name):
    """
    Stanza `name` holds a full backup: WAL archived before the first one
    can't be restored, so a new stanza gets one now rather than at its
    first scheduled run. Needs archiving on (pgBackRest checks it).

    name
        The stanza.
    """
    ret = _ret(name)
    if not __salt__["cmd.has_exec"]("pgbackrest"):
        ret.update(
            result=None, changes={"backup": "would take a first full backup"}, comment="not installed yet"
        )
        return ret
    stanza, error = _info(None, name)
    if error:
        ret.update(result=False, comment=_refusal(error))
        return ret
    if any(b["type"] == "full" for b in stanza.get("backup") or []):
        ret["comment"] = f"stanza {name} holds a full backup"
        return ret
    ret["changes"] = {"backup": "first full backup taken"}
    if __opts__["test"]:
        ret.update(result=None, comment="a first full backup would be taken")
        return ret
    res = _run(["pgbackrest", f"--stanza={name}", "--type=full", "backup"], runas="postgres")
    if res["retcode"] != 0:
        ret.update(result=False, changes={}, comment=f"the first full backup failed: {_text(res)}")
        return ret
    ret["comment"] = f"stanza {name} holds a full backup"
    return ret


def media_snapshot_exists(name, command, env, passphrase, host, timeout=600):
    """
    restic's repository (RESTIC_REPOSITORY in `env`) holds a snapshot of
    `name` (a directory) from `host`: the repository is initialised when the
    store has none, and a new one gets its first snapshot now rather than at
    the first timer run. The passphrase goes to the file ``env`` names
    (RESTIC_PASSWORD_FILE, root's alone) only once the repository opened with
    it (or was made with it), so another passphrase is refused. One restic
    call when all is in place.

    name
        The directory (the app's MEDIA_ROOT).
    command
        restic and its global options (cache, CA).
    env
        restic's environment: repository, passphrase file, store keys.
    passphrase
        The repository's passphrase (never shown).
    host
        The host name snapshots are filed under.
    timeout
        Seconds to wait for the store.
    """
    ret = _ret(name)
    path = env["RESTIC_PASSWORD_FILE"]
    current = None
    if os.path.exists(path):
        with open(path) as handle:
            current = handle.read()
    if not __salt__["cmd.has_exec"](command[0]):
        ret.update(result=None, changes={"snapshot": "would be taken"}, comment="restic is not installed yet")
        return ret
    mine = ["--host", host, "--tag", "media"]
    listing = [*command, "snapshots", "--json", *mine]
    staged = _staged(passphrase, user="root") if current != passphrase else path
    try:
        res = _run(listing, env=dict(env, RESTIC_PASSWORD_FILE=staged), timeout=timeout)
    finally:
        if staged != path:
            os.unlink(staged)
    if "wrong password" in _text(res):
        ret["result"] = False
        ret["comment"] = (
            "webstack:backup:passphrase: the media repository was made with another passphrase;"
            " it can't change for an existing repository: give its passphrase, or a new repository:prefix"
        )
        return ret
    absent = res["retcode"] != 0
    if absent and not any(words in _text(res) for words in RESTIC_ABSENT):
        ret["result"] = False
        ret["comment"] = f"the media repository can't be read (is the store reachable?): {_text(res)[-500:]}"
        return ret
    if current != passphrase:
        ret["changes"]["passphrase"] = "written (not shown)"
    if absent:
        ret["changes"]["repository"] = "initialised"
    if absent or not json.loads(res["stdout"] or "[]"):
        ret["changes"]["snapshot"] = "first snapshot taken"
    if __opts__["test"]:
        ret["result"] = None if ret["changes"] else True
        ret["comment"] = (
            "the media repository would be set up" if ret["changes"] else f"{name} has a snapshot"
        )
        return ret

    if current != passphrase:
        with open(path, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(passphrase)
    __salt__["file.mkdir"](name)
    steps = [("repository", [*command, "init"]), ("snapshot", [*command, "backup", *mine, name])]
    for change, cmd in steps:
        if change in ret["changes"]:
            res = _run(cmd, env=env, timeout=timeout)
            if res["retcode"] != 0:
                ret["result"] = False
                ret["changes"].pop(change)
                ret["comment"] = f"restic {cmd[len(command)]} failed: {_text(res)[-500:]}"
                return ret
    ret["comment"] = f"{name} has a snapshot"
    return ret
