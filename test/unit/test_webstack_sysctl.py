"""_modules/webstack_sysctl.py and _states/webstack_sysctl.py through Salt's
loader: over a fake /proc/sys of plain files (the `root` argument), and with a
fake kernel whose parameters may be read-only (a container) or missing."""

import errno
import os

import pytest

WANTED = {
    "net.ipv4.conf.all.rp_filter": 1,
    "kernel.kptr_restrict": 2,
    "net.ipv4.tcp_rmem": "4096 131072 6291456",
    "kernel.yama.ptrace_scope": 1,
    "fs.suid_dumpable": None,  # dropped by the pillar
}


def proc_sys(root, values):
    for name, value in values.items():
        path = root.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    return root


def read(root, name):
    return root.joinpath(*name.split(".")).read_text()


# -- the execution module over plain files -------------------------------------------


def test_show_reads_as_the_kernel_prints_and_none_when_missing(salt_loader, tmp_path):
    root = proc_sys(tmp_path / "sys", {"net.ipv4.tcp_rmem": "4096\t131072  6291456", "kernel.sysrq": 438})
    mods = salt_loader().salt
    assert mods["webstack_sysctl.show"]("net.ipv4.tcp_rmem", root=str(root)) == "4096\t131072\t6291456"
    assert mods["webstack_sysctl.show"]("kernel.sysrq", root=str(root)) == "438"
    assert mods["webstack_sysctl.show"]("kernel.yama.ptrace_scope", root=str(root)) is None


def test_names_with_a_dot_in_a_part_use_slashes(salt_loader, tmp_path):
    root = tmp_path / "sys"
    (root / "net/ipv4/conf/eth0.100").mkdir(parents=True)
    (root / "net/ipv4/conf/eth0.100/rp_filter").write_text("0\n")
    mods = salt_loader().salt
    assert mods["webstack_sysctl.assign"]("net/ipv4/conf/eth0.100/rp_filter", 1, root=str(root)) == ""
    assert mods["webstack_sysctl.show"]("net/ipv4/conf/eth0.100/rp_filter", root=str(root)) == "1"


def test_settable_and_assign_say_why_not(salt_loader, tmp_path):
    root = proc_sys(tmp_path / "sys", {"kernel.sysrq": 438})
    (root / "kernel" / "a_directory").mkdir()
    mods = salt_loader().salt
    assert mods["webstack_sysctl.settable"]("kernel.sysrq", root=str(root)) == ""
    assert read(root, "kernel.sysrq") == "438\n"  # asking writes nothing
    assert mods["webstack_sysctl.settable"]("kernel.nothing", root=str(root)) == "not in this kernel"
    assert mods["webstack_sysctl.assign"]("kernel.nothing", 1, root=str(root)) == "not in this kernel"
    assert mods["webstack_sysctl.assign"]("kernel.a_directory", 1, root=str(root)) == "is a directory"
    assert mods["webstack_sysctl.assign"]("kernel.sysrq", " 0 ", root=str(root)) == ""
    assert read(root, "kernel.sysrq") == "0\n"


# -- the state over plain files (a box that may set them all) --------------------------


def test_sets_what_differs_and_a_second_run_changes_nothing(salt_loader, tmp_path):
    root = proc_sys(
        tmp_path / "sys",
        {
            "net.ipv4.conf.all.rp_filter": 2,
            "kernel.kptr_restrict": 0,
            "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
        },
    )
    running = salt_loader().states["webstack_sysctl.running"]
    ret = running("kernel", settings=WANTED, root=str(root))
    assert ret["result"] is True, ret
    assert ret["changes"] == {
        "net.ipv4.conf.all.rp_filter": {"old": "2", "new": "1"},
        "kernel.kptr_restrict": {"old": "0", "new": "2"},
    }
    assert read(root, "net.ipv4.conf.all.rp_filter") == "1\n" and read(root, "kernel.kptr_restrict") == "2\n"
    assert ret["comment"].splitlines() == [
        "1 of 4 kernel parameters were as wanted",
        "set: net.ipv4.conf.all.rp_filter = 1, kernel.kptr_restrict = 2",
        "can't set here (not in this kernel): kernel.yama.ptrace_scope",
    ]
    again = running("kernel", settings=WANTED, root=str(root))
    assert again["result"] is True and again["changes"] == {}
    assert again["comment"].splitlines()[0] == "3 of 4 kernel parameters were as wanted"


def test_test_mode_predicts_exactly_the_changes_and_writes_nothing(salt_loader, tmp_path):
    values = {"net.ipv4.conf.all.rp_filter": 2, "kernel.kptr_restrict": 2, "net.ipv4.tcp_rmem": "4096 1 2"}
    root = proc_sys(tmp_path / "sys", values)
    dry = salt_loader(test=True).states["webstack_sysctl.running"]("kernel", settings=WANTED, root=str(root))
    assert dry["result"] is None
    predicted = dry["changes"]
    assert predicted == {
        "net.ipv4.conf.all.rp_filter": {"old": "2", "new": "1"},
        "net.ipv4.tcp_rmem": {"old": "4096\t1\t2", "new": "4096\t131072\t6291456"},
    }
    assert (
        "would set: net.ipv4.conf.all.rp_filter = 1, net.ipv4.tcp_rmem = 4096\t131072\t6291456"
        in dry["comment"]
    )
    assert read(root, "net.ipv4.conf.all.rp_filter") == "2\n"
    real = salt_loader().states["webstack_sysctl.running"]("kernel", settings=WANTED, root=str(root))
    assert real["changes"] == predicted


# -- the state over a fake kernel: read-only parameters (a container) -----------------


class FakeKernel:
    """Parameters by name; `readonly` ones refuse writes with EROFS, `clamps` take another value."""

    def __init__(self, values, readonly=(), clamps=None):
        self.values = dict(values)
        self.readonly = set(readonly)
        self.clamps = clamps or {}
        self.writes = []

    def show(self, name, root=None):
        return self.values.get(name)

    def settable(self, name, root=None):
        if name not in self.values:
            return "not in this kernel"
        return "read-only in this container" if name in self.readonly else ""

    def assign(self, name, value, root=None):
        reason = self.settable(name)
        if reason:
            return reason
        self.writes.append(name)
        self.values[name] = self.clamps.get(name, value)
        return ""


@pytest.fixture
def kernel_box(salt_loader):
    def make(fake, test=False):
        fakes = {f"webstack_sysctl.{fn}": getattr(fake, fn) for fn in ("show", "settable", "assign")}
        return salt_loader(fakes=fakes, test=test, grains={"virtual": "container"}).states[
            "webstack_sysctl.running"
        ]

    return make


CONTAINER = {
    "net.ipv4.conf.all.rp_filter": "2",
    "kernel.kptr_restrict": "0",
    "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
}


def test_read_only_parameters_are_said_not_failed_nor_changed(kernel_box):
    fake = FakeKernel(CONTAINER, readonly={"kernel.kptr_restrict", "net.ipv4.conf.all.rp_filter"})
    for _ in range(2):
        ret = kernel_box(fake)("kernel", settings=WANTED)
        assert ret["result"] is True and ret["changes"] == {}, ret
        assert ret["comment"].splitlines() == [
            "1 of 4 kernel parameters were as wanted",
            "can't set here (not in this kernel): kernel.yama.ptrace_scope",
            "can't set here (read-only in this container): kernel.kptr_restrict, net.ipv4.conf.all.rp_filter",
        ]
    assert fake.writes == []
    dry = kernel_box(fake, test=True)("kernel", settings=WANTED)
    assert dry["result"] is True and dry["changes"] == {}


def test_some_settable_some_not(kernel_box):
    fake = FakeKernel(CONTAINER, readonly={"kernel.kptr_restrict"})
    dry = kernel_box(fake, test=True)("kernel", settings=WANTED)
    assert dry["result"] is None and dry["changes"] == {
        "net.ipv4.conf.all.rp_filter": {"old": "2", "new": "1"}
    }
    ret = kernel_box(fake)("kernel", settings=WANTED)
    assert ret["result"] is True and ret["changes"] == dry["changes"]
    assert fake.writes == ["net.ipv4.conf.all.rp_filter"]
    assert "can't set here (read-only in this container): kernel.kptr_restrict" in ret["comment"]


def test_a_write_refused_only_when_made_is_still_not_a_failure(kernel_box):
    fake = FakeKernel(CONTAINER)
    fake.assign = lambda name, value, root=None: "not permitted here"
    ret = kernel_box(fake)("kernel", settings=WANTED)
    assert ret["result"] is True and ret["changes"] == {}
    assert (
        "can't set here (not permitted here): kernel.kptr_restrict, net.ipv4.conf.all.rp_filter"
        in ret["comment"]
    )


def test_a_value_the_kernel_does_not_take_fails(kernel_box):
    fake = FakeKernel(CONTAINER, clamps={"kernel.kptr_restrict": "1"})
    ret = kernel_box(fake)("kernel", settings=WANTED)
    assert ret["result"] is False
    assert "failed: kernel.kptr_restrict: the kernel reads back '1'" in ret["comment"]
    assert ret["changes"] == {"net.ipv4.conf.all.rp_filter": {"old": "2", "new": "1"}}


@pytest.mark.parametrize(
    "err, reason",
    [
        # What a container's read-only /proc/sys answers an open for writing.
        (errno.EROFS, "read-only in this container"),
        (errno.EACCES, "not permitted here"),
        (errno.EPERM, "not permitted here"),
    ],
)
def test_reasons_come_from_the_errno(salt_loader, tmp_path, monkeypatch, err, reason):
    root = proc_sys(tmp_path / "sys", {"kernel.sysrq": 438})
    mods = salt_loader(grains={"virtual": "container"}).salt

    def refuse(path, flags, *args):
        raise OSError(err, os.strerror(err), path)

    monkeypatch.setattr(os, "open", refuse)
    assert mods["webstack_sysctl.settable"]("kernel.sysrq", root=str(root)) == reason
    assert mods["webstack_sysctl.assign"]("kernel.sysrq", 0, root=str(root)) == reason
    monkeypatch.undo()
    assert read(root, "kernel.sysrq") == "438\n"
