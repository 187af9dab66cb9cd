"""
TLS between boxes converged without a master (the tests, the bench): the
`webstack:peer_tls` a master's ext_pillar (_pillar/webstack.py) hands a
minion, made by that same code, its fleet CA under a directory of ours.
"""

from __future__ import annotations

import salt.config
import salt.loader

from tools.harness.dockerbox import REPO


def ext_pillar(opts: dict):
    """_pillar/webstack.py's ext_pillar through Salt's loader, given minion `opts` (the CA: their pki_dir)."""
    opts = dict(opts, pillar_dirs=[str(REPO / "_pillar")])
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    return salt.loader.pillars(opts, mods)["webstack"]


def issue(directory: str, name: str, address: str, pillar: dict) -> dict:
    """
    The `webstack:peer_tls` of the box `name` at `address` with `pillar`
    (its fleet roles in webstack:roles): the CA, and where those roles serve
    peers over TLS, its certificate and key.
    """
    opts = salt.config.minion_config(None)
    opts.update(
        file_client="local",
        file_roots={"base": [str(REPO / "salt" / "states")]},
        module_dirs=[str(REPO / "_modules")],
        cachedir=f"{directory}/cache",
        pki_dir=f"{directory}/pki",
        extension_modules=f"{directory}/extmods",
        grains={"ipv4": [address]},
    )
    return ext_pillar(opts)(name, pillar)["webstack"]["peer_tls"]
