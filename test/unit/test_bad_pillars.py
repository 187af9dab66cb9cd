"""Every malformed pillar of test/pillars/bad.yaml is refused with a message
naming its key: by webstack.validate, or (cross-key checks) by the render."""

from pathlib import Path

import pytest
from conftest import ALL_ROLES, RenderFailed, bad_pillars, load_pillar

SINGLE_BOX = ["web", "worker", "db", "queue", "cache"]


@pytest.mark.parametrize("pillar, message", bad_pillars())
def test_bad_pillar_is_refused_naming_the_key(request, salt_loader, render, pillar, message):
    if request.node.get_closest_marker("render_only"):
        with pytest.raises(RenderFailed) as failed:
            render("debian-12", pillar, roles=SINGLE_BOX)
        errors = str(failed.value)
    else:
        validate = salt_loader().salt["webstack.validate"]
        errors = "\n".join(validate(pillar, {"roles": ALL_ROLES}))
    assert message in errors, errors


def test_there_are_at_least_25_cases():
    assert len(bad_pillars()) >= 25


def test_a_value_left_encrypted_is_named_without_its_ciphertext(salt_loader):
    # What Salt's gpg renderer leaves when no key decrypts it; with a typo
    # beside it, whose schema message must not come first and quote it.
    ciphertext = "-----BEGIN PGP MESSAGE-----\n\nhF4DwqGr1YoMPr4SAQdA\n=Zm9v\n-----END PGP MESSAGE-----"
    pillar = load_pillar("demo")
    pillar["webstack"]["postgresql"]["password"] = ciphertext
    pillar["webstack"]["app"]["secrets"]["API_TOKEN"] = f"token: {ciphertext}"
    pillar["webstack"]["nginx"]["client_max_bodysize"] = ciphertext
    ldr = salt_loader()
    keydir = str(Path(ldr.opts["conf_file"]).parent / "gpgkeys")
    errors = ldr.salt["webstack.validate"](pillar, {"roles": ALL_ROLES})
    assert errors == [
        f"webstack:{key}: still GPG-encrypted: no secret key in {keydir} could decrypt it (the key is "
        f"missing there, or the value was encrypted to another key); import the secret key into "
        f"{keydir}, or encrypt the value again to a key it holds"
        for key in ("postgresql:password", "nginx:client_max_bodysize", "app:secrets:API_TOKEN")
    ]
    assert not any("hF4D" in line or "PGP" in line for line in errors)
