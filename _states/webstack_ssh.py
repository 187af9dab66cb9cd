"""
Checks of the OpenSSH server's effective configuration.

sshd keeps the first value it reads for most settings, from sshd_config and
every file it includes, so a file of ours can be present and still lose to
one read earlier. ``sshd -T`` prints the configuration sshd would run with:
this state compares it with what we asked for and fails, naming each setting
that doesn't hold, so a reload can require it.

.. code-block:: yaml

    ssh-server-settings-are-in-effect:
      webstack_ssh.settings_in_effect:
        - settings:
            PermitRootLogin: "no"
            AllowGroups: [developers, sudo]
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "webstack_ssh"


def __virtual__():
    return __virtualname__


def _expected(value):
    """A setting's value as `sshd -T` prints it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _effective(binary):
    """
    The effective sshd configuration as {keyword: value}, keywords in lower
    case, the values of repeated keywords (AllowGroups, Port...) joined by
    spaces in the order sshd prints them. Raises with sshd's own message
    when the configuration is invalid.
    """
    res = __salt__["cmd.run_all"]([binary, "-T"], python_shell=False, ignore_retcode=True)
    if res["retcode"] != 0:
        raise ValueError((res.get("stderr") or res.get("stdout") or "").strip() or f"{binary} -T failed")
    conf = {}
    for line in res["stdout"].splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            conf[keyword.lower()] = f"{conf[keyword.lower()]} {value}" if keyword.lower() in conf else value
    return conf


def settings_in_effect(name, settings, binary="sshd"):
    """
    Succeed when sshd's effective configuration holds every one of
    ``settings`` (sshd_config keywords, any case; lists for settings given
    several values); fail naming those that don't. Changes nothing.

    name
        A label for the check.
    settings
        {keyword: value}; values compare as `sshd -T` prints them
        (True/False as yes/no, lists joined by spaces).
    binary
        The sshd program.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        conf = _effective(binary)
    except (ValueError, CommandExecutionError) as exc:
        if __opts__["test"]:
            # The package or our config file may not be there yet.
            ret["result"] = None
            ret["comment"] = f"sshd's configuration would be checked (now: {exc})"
        else:
            ret["result"] = False
            ret["comment"] = f"sshd's configuration is invalid: {exc}"
        return ret

    wrong = []
    for keyword, value in settings.items():
        want = _expected(value)
        have = conf.get(keyword.lower())
        if have is None or have.lower() != want.lower():
            wrong.append(f"{keyword} is {have!r}, not {want!r}")
    if not wrong:
        ret["comment"] = f"All {len(settings)} settings are in effect"
        return ret
    ret["comment"] = (
        "Not in effect (a value read earlier wins: see sshd_config and sshd_config.d): " + "; ".join(wrong)
    )
    # With test=True our config file may be about to change: say so, don't fail.
    ret["result"] = None if __opts__["test"] else False
    return ret
