"""
nginx configuration that lands only after nginx has accepted it.

.. code-block:: yaml

    nginx-config-is-checked-then-installed:
      webstack_nginx.config_managed:
        - name: /etc/nginx
        - files:
            nginx.conf: {contents: "..."}
            sites-available/shop.conf: {contents: "..."}
            tls/shop.key: {contents: "...", mode: "0600", secret: true}
        - links:
            sites-enabled/shop.conf: ../sites-available/shop.conf
        - absent:
            - sites-enabled/default

Paths are relative to ``name``, the configuration directory holding
``nginx.conf``. When anything differs, the whole directory is copied to a
private staging directory, the changes are made there, and
``nginx -t -c <staging>/nginx.conf`` must pass before a real file changes.
The files must refer to each other by relative paths (``include
sites-enabled/*;``, ``ssl_certificate tls/shop.crt;``): nginx resolves them
against the directory of the ``-c`` file, so the check reads the staged copies.
Each real file is then replaced atomically (temporary file, rename) and the
real tree is checked once more; should that fail (something outside the
staged copy differed), the previous files are put back. Either way a config
nginx rejects never replaces one it accepts. Reloading is left to a
``service.running`` that watches this state.
"""

import difflib
import os
import shutil
import stat
import tempfile

__virtualname__ = "webstack_nginx"

SECRET = "<secret: contents not shown>"


def __virtual__():
    return __virtualname__


def configtest(conf_file):
    """``nginx -t`` on ``conf_file``: (passed, nginx's output)."""
    res = __salt__["cmd.run_all"](
        ["nginx", "-t", "-c", conf_file],
        python_shell=False,
        ignore_retcode=True,
        output_loglevel="debug",
        timeout=60,
    )
    output = "\n".join(s for s in (res.get("stderr"), res.get("stdout")) if s).strip()
    return res["retcode"] == 0, output


def _inside(root, rel):
    """The absolute path of `rel` under `root`; refuses paths leaving it."""
    path = os.path.normpath(os.path.join(root, rel))
    if os.path.isabs(rel) or not path.startswith(root.rstrip("/") + "/"):
        raise ValueError(f"{rel!r} is not a relative path inside {root}")
    return path


def _current(path):
    """What is at `path`: ("file", bytes, mode), ("link", target), ("other",) or None."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as fh:
            return ("file", fh.read(), stat.S_IMODE(st.st_mode))
    return ("other",)


def _wanted(files, links, absent):
    """Relative path -> the desired ("file", bytes, mode, secret) / ("link", target) / None."""
    out = {}
    for rel, spec in (files or {}).items():
        if isinstance(spec, str):
            spec = {"contents": spec}
        mode = int(str(spec.get("mode", "0644")), 8)
        out[rel] = ("file", spec["contents"].encode(), mode, bool(spec.get("secret")))
    for rel, target in (links or {}).items():
        out[rel] = ("link", target)
    for rel in absent or ():
        out[rel] = None
    return out


def _change(rel, now, want):
    """The `changes` entry for one path, or None when it is already right."""
    if want is None:
        return {"removed": True} if now is not None else None
    if want[0] == "link":
        return None if now == want else {"symlink": want[1]}
    _, data, mode, secret = want
    if now is not None and now[0] == "file" and now[1] == data:
        return None if now[2] == mode else {"mode": f"{mode:04o}"}
    change = {"mode": f"{mode:04o}"} if now is None or now[0] != "file" or now[2] != mode else {}
    if secret:
        change["diff"] = SECRET
    elif now is None or now[0] != "file":
        change["diff"] = "new file"
    else:
        old = now[1].decode(errors="replace").splitlines(keepends=True)
        new = data.decode(errors="replace").splitlines(keepends=True)
        change["diff"] = "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))
    return change


def _put(path, want):
    """Make `path` what `want` (or what `_current` saw) says, atomically for files and links."""
    if want is None:
        if os.path.lexists(path):
            os.unlink(path)
        return
    parent = os.path.dirname(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if want[0] == "link":
        tmp = os.path.join(parent, f".{os.path.basename(path)}.salt-new")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(want[1], tmp)
        os.replace(tmp, path)
        return
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.")
    try:
        os.fchmod(fd, want[2])
        with os.fdopen(fd, "wb") as fh:
            fh.write(want[1])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _warnings(output):
    return [line for line in output.splitlines() if "[warn]" in line]


def config_managed(name, files=None, links=None, absent=None):
    """
    Ensure the nginx configuration under ``name`` holds exactly these files,
    symlinks and removals, installing them only once ``nginx -t`` accepts the
    result.

    name
        The configuration directory holding ``nginx.conf`` (``/etc/nginx``).

    files
        Relative path -> ``{contents, mode (default "0644"), secret (default
        false: when true the diff is not shown)}``, or just the contents.

    links
        Relative path -> symlink target (use relative targets, so the staged
        copy links to staged files).

    absent
        Relative paths to remove (files or symlinks).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    root = os.path.normpath(name)
    conf = os.path.join(root, "nginx.conf")
    try:
        wanted = {rel: (_inside(root, rel), want) for rel, want in _wanted(files, links, absent).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        ret.update(result=False, comment=f"Bad arguments: {exc}")
        return ret

    before = {rel: _current(path) for rel, (path, _) in wanted.items()}
    for rel, (path, want) in wanted.items():
        if before[rel] is not None and before[rel][0] == "other":
            ret.update(result=False, comment=f"{path} is neither a file nor a symlink: not replacing it")
            return ret
        change = _change(rel, before[rel], want)
        if change:
            ret["changes"][rel] = change
    if not ret["changes"]:
        ret["comment"] = f"The nginx configuration in {root} is already as specified"
        return ret
    if __opts__["test"]:
        ret.update(
            result=None, comment=f"{len(ret['changes'])} path(s) in {root} would be checked, then changed"
        )
        return ret
    if not os.path.isfile(conf):
        ret.update(result=False, changes={}, comment=f"{conf} is missing: is nginx installed?")
        return ret

    # 1. The new configuration in a staged copy: nothing real changes unless nginx accepts it.
    stage = tempfile.mkdtemp(prefix="nginx-staged-")
    tree = os.path.join(stage, os.path.basename(root))
    try:
        shutil.copytree(root, tree, symlinks=True)
        for rel in ret["changes"]:
            _put(_inside(tree, rel), wanted[rel][1])
        ok, output = configtest(os.path.join(tree, "nginx.conf"))
        problem = None if ok else "nginx rejected the new configuration"
    except OSError as exc:
        problem, output = "staging the new configuration failed", str(exc)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if problem:
        output = output.replace(tree, root)
        ret.update(result=False, changes={}, comment=f"{problem}; nothing was changed:\n{output}")
        return ret

    # 2. The real files, checked again in place; put back if that fails.
    done, problem = [], None
    try:
        for rel in ret["changes"]:
            _put(wanted[rel][0], wanted[rel][1])
            done.append(rel)
        ok, output = configtest(conf)
        if not ok:
            problem = "nginx rejected the installed files"
    except OSError as exc:
        problem, output = "writing the files failed", str(exc)
    if problem:
        for rel in done:
            _put(wanted[rel][0], before[rel])  # what _current saw is a valid `want`
        ret.update(result=False, changes={}, comment=f"{problem}; the previous ones were put back:\n{output}")
        return ret

    ret["comment"] = "\n".join(
        [f"{len(ret['changes'])} path(s) in {root} changed after nginx -t passed", *_warnings(output)]
    )
    return ret
