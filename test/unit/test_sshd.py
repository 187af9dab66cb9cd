"""_modules/sshd.py through Salt's loader: what the ssh component's files read."""

import pytest

SECTION = {
    "port": 22,
    "allow_groups": ["sudo", "developers"],
    "host_keys": ["ed25519", "rsa"],
    "host_key_algorithms": ["ssh-ed25519", "rsa-sha2-512"],
    "kex": ["curve25519-sha256", "diffie-hellman-group-exchange-sha256"],
    "ciphers": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"],
    "macs": ["hmac-sha2-256-etm@openssh.com"],
    "rsa_bits": 4096,
    "dh_min_bits": 4096,
    "limits": {
        "max_auth_tries": 2,
        "login_grace_time": 20,
        "max_startups": "5:50:20",
        "per_source_max_startups": 2,
        "client_alive_interval": 60,
        "client_alive_count_max": 2,
    },
    "forwarding": False,
    "throttle": {"enabled": True, "per_second": 4, "burst": 15},
}


@pytest.fixture
def derive(salt_loader):
    return salt_loader().salt["sshd.derive"]


def test_lines_and_what_sshd_must_show(derive):
    out = derive(SECTION, {"users": {"group": "developers"}})
    lines = out["lines"]
    # The developers' group first, once.
    assert "AllowGroups developers sudo" in lines
    assert lines.index("HostKey /etc/ssh/ssh_host_ed25519_key") + 1 == lines.index(
        "HostKey /etc/ssh/ssh_host_rsa_key"
    )
    assert "KexAlgorithms curve25519-sha256,diffie-hellman-group-exchange-sha256" in lines
    assert "MaxStartups 5:50:20" in lines and "ClientAliveCountMax 2" in lines
    assert out["sshd"]["HostKey"] == "/etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key"
    assert out["sshd"]["AllowGroups"] == ["developers", "sudo"]
    assert out["sshd"]["MaxAuthTries"] == 2 and out["sshd"]["AllowTcpForwarding"] == "no"
    # sshd_config keywords appear once each, but HostKey.
    keywords = [line.split()[0] for line in lines]
    assert len(keywords) == len(set(keywords)) + 1


def test_moduli_rsa_key_and_throttle(derive):
    out = derive(SECTION, {"users": {"group": "developers"}})
    assert out["moduli"] == {
        "source": "/etc/ssh/moduli",
        "file": "/etc/ssh/moduli.webstack",
        "min_size": 4095,
    }
    assert out["rsa_key"] == {"file": "/etc/ssh/ssh_host_rsa_key", "bits": 4096}
    assert out["throttle"] == {
        "enabled": True,
        "per_second": 4,
        "burst": 15,
        "rules": "/etc/webstack/ssh-throttle.nft",
        "unit": "webstack-ssh-throttle",
    }
    assert derive(dict(SECTION, host_keys=["ed25519"]), {"users": {"group": "developers"}})["rsa_key"] is None


def test_forwarding_on_opens_every_kind_but_gateway_ports(derive):
    sshd = derive(dict(SECTION, forwarding=True), {"users": {"group": "developers"}})["sshd"]
    assert [
        sshd[k] for k in ("AllowTcpForwarding", "AllowAgentForwarding", "AllowStreamLocalForwarding")
    ] == ["yes"] * 3
    assert sshd["PermitTunnel"] == "yes" and sshd["GatewayPorts"] == "no"
