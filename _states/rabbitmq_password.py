"""
A RabbitMQ user's password, checked and set through rabbitmqctl's standard
input, never its command line.

Salt's ``rabbitmq_user`` state passes the password as an argument of
``rabbitmqctl authenticate_user`` / ``change_password`` on every run: any
local user sees it in ``ps`` while it runs, and the journal keeps it (the
``_CMDLINE`` of the ``su`` that Debian's rabbitmqctl wrapper runs). Here
rabbitmqctl reads it from standard input instead.

.. code-block:: yaml

    rabbitmq-app-user-has-its-vhost-only:
      rabbitmq_user.present:
        - name: shop                    # no password here: only the vhost
        - perms: [{shop: [".*", ".*", ".*"]}]

    rabbitmq-app-user-logs-in-with-its-password:
      rabbitmq_password.managed:
        - name: shop
        - password: "..."
        - require:
          - rabbitmq_user: rabbitmq-app-user-has-its-vhost-only
"""

import salt.utils.path

__virtualname__ = "rabbitmq_password"

CTL = "rabbitmqctl"


def __virtual__():
    # Loaded even before RabbitMQ is installed: the same run installs it.
    return __virtualname__


def _ctl(action, name, password):
    return __salt__["cmd.run_all"](
        [CTL, action, name],
        stdin=password,
        python_shell=False,
        output_loglevel="quiet",
        ignore_retcode=True,
        reset_system_locale=False,
    )


def _why(res):
    """rabbitmqctl's own words (it echoes no password: it read it from stdin)."""
    lines = [line for line in (res["stderr"] + "\n" + res["stdout"]).splitlines() if line.strip()]
    return " ".join(line for line in lines if line.strip() != "Password:")[-400:]


def managed(name, password):
    """
    The existing RabbitMQ user `name` logs in with `password`: checked with
    ``rabbitmqctl authenticate_user``, changed with ``change_password``,
    both reading it from standard input.

    name
        The user (created by ``rabbitmq_user.present``).
    password
        Its password. Never in the state's output either.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    installed = salt.utils.path.which(CTL)
    if not installed and not __opts__["test"]:
        ret.update(result=False, comment="rabbitmqctl is not installed")
        return ret
    if installed and _ctl("authenticate_user", name, password)["retcode"] == 0:
        ret["comment"] = f"RabbitMQ user {name} logs in with its password"
        return ret
    if __opts__["test"]:
        # Without rabbitmqctl: a fresh box, the rabbitmq role installs the
        # server earlier in the real run.
        later = "" if installed else " once RabbitMQ is installed"
        ret.update(
            result=None,
            changes={"password": "would be set"},
            comment=f"The password of RabbitMQ user {name} would be set{later}",
        )
        return ret
    change = _ctl("change_password", name, password)
    if change["retcode"] != 0:
        ret.update(result=False, comment=f"rabbitmqctl change_password {name} failed: {_why(change)}")
        return ret
    verify = _ctl("authenticate_user", name, password)
    if verify["retcode"] != 0:
        ret.update(
            result=False,
            comment=f"RabbitMQ user {name} still cannot log in after change_password: {_why(verify)}",
        )
        return ret
    ret["changes"] = {"password": "set"}
    ret["comment"] = f"The password of RabbitMQ user {name} was set"
    return ret
