"""Every SLS compiles for every supported release under the demo, a minimal,
a full (pillar.example) and a peer TLS pillar (the fleet's CA and this box's
certificate given); bad pillars fail the render, naming the key."""

import pytest
from conftest import OS_GRAINS, RenderFailed, load_pillar

PILLARS = ["demo", "minimal", "example", "peer_tls"]


@pytest.mark.parametrize("pillar", PILLARS)
@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_highstate_renders(render, os_name, pillar):
    high = render(os_name, load_pillar(pillar))
    assert high, "the highstate is empty"
    for state_id, body in high.items():
        assert "__sls__" in body, state_id


def test_bad_pillar_fails_the_render_naming_the_key(render):
    pillar = load_pillar("minimal")
    pillar["webstack"]["project"]["domains"] = ["not a domain"]
    with pytest.raises(RenderFailed, match=r"webstack:project:domains:0: 'not a domain' is not a domain"):
        render("debian-12", pillar)
