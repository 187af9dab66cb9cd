"""
Kernel parameters as the hardening component sets them: read and written
through /proc/sys directly, so that a parameter this box can't set (a
container's read-only /proc/sys, a parameter not in this kernel) is told
apart from one that failed. ``_states/webstack_sysctl.py`` uses these.
"""

import errno
import os

ROOT = "/proc/sys"


def __virtual__():
    return "webstack_sysctl"


def _path(name, root):
    # sysctl's notation: "/" separates the parts when one holds a dot (an
    # interface name such as eth0.100), else ".".
    parts = name.split("/") if "/" in name else name.split(".")
    return os.path.join(root, *parts)


def _normal(value):
    """A value as the kernel prints it: words separated by one tab."""
    return "\t".join(str(value).split())


def _reason(err):
    if err.errno == errno.ENOENT:
        return "not in this kernel"
    if err.errno == errno.EROFS:
        where = "in this container" if __grains__.get("virtual") == "container" else "here"
        return f"read-only {where}"
    if err.errno in (errno.EPERM, errno.EACCES):
        return "not permitted here"
    return os.strerror(err.errno).lower()


def show(name, root=ROOT):
    """
    The running value of kernel parameter ``name`` (as the kernel prints it,
    words separated by a tab), or None when this kernel has no such parameter.

    CLI Example: ``salt-call webstack_sysctl.show net.ipv4.tcp_syncookies``
    """
    try:
        with open(_path(name, root), encoding="ascii") as f:
            return _normal(f.read())
    except FileNotFoundError:
        return None


def settable(name, root=ROOT):
    """
    Whether this box may set kernel parameter ``name``: "" when it may, else
    why not ("read-only in this container", "not in this kernel", ...).
    Opening the file for writing is enough to know: nothing is written.

    CLI Example: ``salt-call webstack_sysctl.settable kernel.kptr_restrict``
    """
    try:
        os.close(os.open(_path(name, root), os.O_WRONLY))
    except OSError as err:
        return _reason(err)
    return ""


def assign(name, value, root=ROOT):
    """
    Set kernel parameter ``name`` to ``value`` in the running kernel (not at
    boot: that is /etc/sysctl.d). Returns "" when it took, else why not.

    CLI Example: ``salt-call webstack_sysctl.assign kernel.dmesg_restrict 1``
    """
    try:
        # Never created: a name this kernel lacks is not a file to make.
        fd = os.open(_path(name, root), os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, (_normal(value) + "\n").encode("ascii"))
        finally:
            os.close(fd)
    except OSError as err:
        return _reason(err)
    return ""
