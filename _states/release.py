"""
The app release that the source names is live (see ``_modules/release.py``
for the layout and the steps of a deploy).

.. code-block:: yaml

    app-release-is-live:
      release.deployed:
        - name: /srv/shop                # the project root
        - git: https://git.example.com/shop.git
        - ref: main                      # branch, tag or commit
        - user: shop
        - group: shop
        - python: /usr/bin/python3.11
        - env_file: /srv/shop/env
        - app_module: shop.wsgi:application
        - worker_class: null             # gunicorn's sync workers
        - migrate: true
        - collectstatic: true
        - health_check: /health/
        - socket_dir: /run/shop
        - keep: 5

Nothing happens when the live release already holds what the source names
(same commit, or same tree for a local path): no pip, no hooks. A changed
source makes a new release; it goes live only when all its steps passed,
else the state fails saying which step and why, and the live one stays.
After ``release.rollback`` the older release stays live while the source
still names the commit rolled back from (see ``release.hold``).
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "release"


def __virtual__():
    if "release.deploy" not in __salt__:
        return (False, "release state: the release execution module (_modules/release.py) is not loaded")
    return __virtualname__


def deployed(name, user, python, group=None, git=None, ref="main", path=None, keep=5, **kwargs):
    """
    The release the source names is live under project root `name`.

    name
        The project root (``current``, ``releases/``, ``venvs/`` under it).
    git, ref / path
        The source: a git URL and the ref to deploy (branch, tag or commit),
        or a local directory (copied; its content hash is the release id).
    user, group
        Who runs the app: the Django hooks and the health check run as them.
    python
        The interpreter the virtualenvs are made from.
    keep
        How many releases to keep (the live one always stays).

    Further arguments (``requirements``, ``env_file``, ``app_module``,
    ``worker_class``, ``migrate``, ``collectstatic``, ``manage``,
    ``health_check``, ``health_host``, ``health_timeout``, ``socket_dir``) go
    to ``release.deploy``.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    test = __opts__["test"]
    group = group or user
    try:
        before = __salt__["release.live"](name)
        try:
            want = __salt__["release.resolve"](name, git=git, ref=ref, path=path, fetch=not test)
        except CommandExecutionError as exc:
            if not test or bool(git) == bool(path):
                raise
            # A first dry run: git may not be installed yet, the remote not reachable.
            ret.update(
                result=None,
                changes={"release": {"old": before["name"] if before else None, "new": ref}},
                comment=f"Would deploy {ref}: {exc}",
            )
            return ret
        held = __salt__["release.hold"](name)
        if held and before and before["name"] == held["release"] and want["id"] in (None, held["from"]["id"]):
            ret["comment"] = (
                f"Release {held['release']} is held live by a rollback (job {held['job']}): the source still"
                f" names {held['from']['id']}, rolled back from; once it names another commit, or after"
                " `salt-call release.unhold`, the next apply deploys it"
            )
            return ret
        if before and before["id"] == want["id"] and before["venv_ok"]:
            pruned = __salt__["release.prune"](name, keep, test=test)
            ret["comment"] = f"Release {before['name']} ({want['id']}) is live"
            if held:
                # The source names the live release again: the rollback's hold has nothing left to hold.
                ret["changes"]["hold"] = {"old": held["release"], "new": None}
                ret["result"] = None if test else True
                ret["comment"] += "; the rollback's hold " + ("would be " if test else "") + "cleared"
                if not test:
                    __salt__["release.unhold"](name)
            if pruned["releases"] or pruned["venvs"]:
                ret["changes"]["pruned"] = pruned
                ret["result"] = None if test else True
                ret["comment"] += "; old releases " + ("would be " if test else "") + "pruned"
            return ret
        if test:
            new = want["id"] or f"{ref} (not fetched yet)"
            ret.update(
                result=None,
                changes={"release": {"old": before["name"] if before else None, "new": new}},
                comment=f"A new release of {new} would be deployed and made live",
            )
            if before and before["id"] == want["id"]:
                ret["comment"] += f" (the virtualenv of {before['name']} is incomplete)"
            return ret
        changes = __salt__["release.deploy"](
            name,
            user,
            group,
            python,
            git=git,
            ref=ref,
            path=path,
            keep=keep,
            want=want,
            **_deploy_args(kwargs),
        )
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    ret["changes"] = changes
    ret["comment"] = f"Release {changes['release']['new']} is live"
    if "virtualenv" in changes:
        ret["comment"] += f" with virtualenv {changes['virtualenv']['new']}"
    return ret


_DEPLOY_ARGS = (
    "requirements",
    "env_file",
    "app_module",
    "worker_class",
    "migrate",
    "collectstatic",
    "manage",
    "health_check",
    "health_host",
    "health_timeout",
    "socket_dir",
)


def _deploy_args(kwargs):
    return {k: v for k, v in kwargs.items() if k in _DEPLOY_ARGS}
