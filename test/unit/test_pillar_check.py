"""_pillar/webstack.py through Salt's loader, as a master (or salt-ssh) runs it
once it has compiled a minion's pillar: a bad `webstack` pillar becomes
Salt's `_errors` (every state run then refuses before rendering), a good one
gets the fleet's CA (test_peer_tls.py), a pillar without `webstack` nothing."""

import pytest
from conftest import load_pillar, with_settings

NAME_RULE = "(lower case letters, digits, _ or -, at most 32)"


@pytest.fixture
def ext_pillar(ext_pillar_for):
    return ext_pillar_for({"roles": ["web", "db"]})


def test_a_bad_pillar_becomes_one_line_per_problem_in_salts_errors(ext_pillar):
    bad = with_settings(load_pillar("minimal"), project={"name": "Shop!"}, postgresql={"password": None})
    assert ext_pillar("web1", bad) == {
        "_errors": [
            "webstack:postgresql:password: is required",
            "webstack:project:name: 'Shop!' is not a user name " + NAME_RULE,
        ]
    }
    # A section left out: its key without a default.
    missing = with_settings(load_pillar("minimal"))
    del missing["webstack"]["postgresql"]
    assert ext_pillar("web1", missing) == {"_errors": ["webstack:postgresql:password: is required"]}


def test_a_good_pillar_gets_only_peer_tls_and_none_of_ours_nothing(ext_pillar):
    # What peer_tls holds: test_peer_tls.py.
    added = ext_pillar("web1", load_pillar("minimal"))
    assert list(added) == ["webstack"] and list(added["webstack"]) == ["peer_tls"]
    assert ext_pillar("other", {"something": "else"}) == {}


def test_a_value_the_masters_gpg_renderer_left_encrypted_is_refused_naming_its_key(ext_pillar, tmp_path):
    sealed = "-----BEGIN PGP MESSAGE-----\n\nhF4DwqGr1YoMPr4SAQdA\n=Zm9v\n-----END PGP MESSAGE-----"
    pillar = with_settings(load_pillar("minimal"), postgresql={"password": sealed})
    keydir = tmp_path / "gpgkeys"  # the master's gpg_keydir: beside its config
    assert ext_pillar("web1", pillar) == {
        "_errors": [
            f"webstack:postgresql:password: still GPG-encrypted: no secret key in {keydir} could decrypt "
            "it (the key is missing there, or the value was encrypted to another key); import the "
            f"secret key into {keydir}, or encrypt the value again to a key it holds"
        ]
    }
