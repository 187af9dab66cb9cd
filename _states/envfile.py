"""
An environment file holding secrets, managed without ever showing a value:
changes and comments name the variables added, changed or removed, never
what they hold (``file.managed`` would need ``show_changes: False`` and
still leave the values in its arguments' template).

.. code-block:: yaml

    app-environment-file-holds-settings-and-secrets:
      envfile.managed:
        - name: /srv/shop/env
        - values: {DATABASE_URL: "postgresql://...", ALLOWED_HOSTS: shop.example.com}
        - secrets: {SECRET_KEY: "..."}
        - generate: [SECRET_KEY]
        - user: root
        - group: shop
        - mode: "0640"

`secrets` win over `values`. A name in `generate` that neither gives keeps
the value the file already holds, or gets a new random one: a first apply
works without a pillar secret and later applies keep it.
"""

import grp
import os
import pwd
import secrets as _secrets
import stat
import tempfile

from salt.exceptions import CommandExecutionError

__virtualname__ = "envfile"


def __virtual__():
    if "envfile.render" not in __salt__:
        return (False, "envfile state: the envfile execution module (_modules/envfile.py) is not loaded")
    return __virtualname__


def _ids(user, group):
    """The uid and gid of `user` and `group`, None for one that doesn't exist; and what is missing."""
    ids, missing = [], []
    for lookup, name, kind in ((pwd.getpwnam, user, "user"), (grp.getgrnam, group, "group")):
        try:
            ids.append(lookup(name)[2])
        except KeyError:
            ids.append(None)
            missing.append(f"{kind} {name!r}")
    return ids[0], ids[1], missing


def _write(path, text, uid, gid, mode):
    """Replace `path` atomically, with its owner and mode set before it appears."""
    fd, tmp = tempfile.mkstemp(prefix=".envfile-", dir=os.path.dirname(path))
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def managed(name, values=None, secrets=None, generate=None, user="root", group="root", mode="0640"):
    """
    The env file `name` holds exactly `values` merged with `secrets`
    (plus generated names), owned by `user`:`group` with `mode`.

    name
        Absolute path of the file; its directory must exist.
    values, secrets
        Mappings of variable names to values (strings, numbers, booleans).
        Both go to the file; only names ever reach Salt's output.
    generate
        Names to generate a random value for when neither mapping has them.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    want_mode = int(str(mode), 8)
    wanted = {k: __salt__["envfile.stringify"](v) for k, v in dict(values or {}).items()}
    wanted.update({k: __salt__["envfile.stringify"](v) for k, v in dict(secrets or {}).items()})

    uid, gid, missing = _ids(user, group)
    if missing and not __opts__["test"]:
        ret.update(result=False, comment=f"{name}: no such {' or '.join(missing)}")
        return ret
    try:
        have = __salt__["envfile.read"](name)
        st = os.stat(name) if os.path.exists(name) else None
    except CommandExecutionError as exc:
        ret.update(result=False, comment=f"{name}: {exc}")
        return ret

    to_generate = [k for k in (generate or []) if k not in wanted]
    for key in to_generate:
        if key in have:
            wanted[key] = have[key]
        elif not __opts__["test"]:
            wanted[key] = _secrets.token_urlsafe(50)
        else:
            wanted[key] = None  # a new random value: differs from anything

    try:
        text = __salt__["envfile.render"]({k: v or "" for k, v in wanted.items()})
    except CommandExecutionError as exc:
        ret.update(result=False, comment=f"{name}: {exc}")
        return ret

    changes = {}
    added = sorted(set(wanted) - set(have))
    changed = sorted(k for k in set(wanted) & set(have) if wanted[k] != have[k])
    removed = sorted(set(have) - set(wanted))
    for label, names in (("added", added), ("changed", changed), ("removed", removed)):
        if names:
            changes.setdefault("variables", {})[label] = names
    generated = [k for k in to_generate if k not in have]
    if generated:
        changes["generated"] = generated
    if st is not None:
        if stat.S_IMODE(st.st_mode) != want_mode:
            changes["mode"] = {"old": oct(stat.S_IMODE(st.st_mode))[2:].zfill(4), "new": f"{want_mode:04o}"}
        if (st.st_uid, st.st_gid) != (uid, gid):
            changes["owner"] = {"old": f"{st.st_uid}:{st.st_gid}", "new": f"{user}:{group}"}
        if not changes:
            with open(name, encoding="utf-8") as fh:
                if fh.read() != text:
                    changes["format"] = "rewritten in the managed layout"
    else:
        changes["file"] = "created"

    if not changes:
        ret["comment"] = f"{name} is in the correct state (values not shown)"
        return ret
    verb = "created" if st is None else "updated"
    if __opts__["test"]:
        # On a fresh box the project's group comes from a state that has not
        # run yet: a prediction, as file.managed makes, not a failure.
        later = (
            f"; {' and '.join(missing)} does not exist yet: an earlier state must make it" if missing else ""
        )
        ret.update(result=None, changes=changes, comment=f"{name} would be {verb} (values not shown){later}")
        return ret
    try:
        _write(name, text, uid, gid, want_mode)
    except OSError as exc:
        ret.update(result=False, comment=f"{name}: could not write: {exc.strerror}")
        return ret
    ret.update(changes=changes, comment=f"{name} {verb} (values not shown)")
    return ret
