"""
Kernel parameters in effect in the running kernel, where this box may set
them. /etc/sysctl.d holds them for every boot (a file.managed); this state
sets the ones that differ now. A container can't set most (its /proc/sys is
read-only) and a kernel may lack some: those are said in the comment, and
are neither a failure nor a change, so a second run reports nothing.

Salt's own sysctl.present writes the config file too and fails on a
read-only parameter, hence ours.
"""

# Why a parameter can't be set here (webstack_sysctl._reason): not a failure.
_CANT = ("read-only", "not in this kernel", "not permitted")


def __virtual__():
    return "webstack_sysctl"


def _cant(reason):
    return reason.startswith(_CANT)


def running(name, settings, root=None):
    """
    Set each kernel parameter of ``settings`` (name -> value) whose running
    value differs, where this box may.

    name
        A label for the run.
    settings
        Parameter name (sysctl's dotted form) -> value; None skips one.
    root
        Where the parameters are (default /proc/sys): the tests' fake.
    """
    kw = {"root": root} if root else {}
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    cant, todo, failed = {}, {}, []
    as_wanted = 0
    for key, value in settings.items():
        if value is None:
            continue
        want = "\t".join(str(value).split())
        have = __salt__["webstack_sysctl.show"](key, **kw)
        if have is None:
            cant.setdefault("not in this kernel", []).append(key)
            continue
        if have == want:
            as_wanted += 1
            continue
        reason = __salt__["webstack_sysctl.settable"](key, **kw)
        if reason and _cant(reason):
            cant.setdefault(reason, []).append(key)
        elif reason:
            failed.append(f"{key}: {reason}")
        else:
            todo[key] = {"old": have, "new": want}

    if __opts__["test"]:
        ret["changes"] = todo
        if todo:
            ret["result"] = None
    else:
        for key, change in todo.items():
            reason = __salt__["webstack_sysctl.assign"](key, change["new"], **kw)
            if reason and _cant(reason):
                cant.setdefault(reason, []).append(key)
                continue
            now = __salt__["webstack_sysctl.show"](key, **kw)
            if reason or now != change["new"]:
                # The kernel refused the value, or took another one.
                failed.append(f"{key}: {reason or 'the kernel reads back ' + repr(now)}")
                continue
            ret["changes"][key] = change

    lines = [
        f"{as_wanted} of {sum(v is not None for v in settings.values())} kernel parameters were as wanted"
    ]
    if ret["changes"]:
        verb = "would set" if __opts__["test"] else "set"
        lines.append(f"{verb}: " + ", ".join(f"{k} = {c['new']}" for k, c in ret["changes"].items()))
    for reason, keys in sorted(cant.items()):
        lines.append(f"can't set here ({reason}): " + ", ".join(sorted(keys)))
    if failed:
        ret["result"] = False
        lines.append("failed: " + "; ".join(failed))
    ret["comment"] = "\n".join(lines)
    return ret
