def test_smoke(boxes, converge_box, idempotent):
    box = boxes.start("smoke")
    pillar = {"webstack": {"project": {"name": "shop"}}}
    r = converge_box(box, pillar, "base")
    print(r.summary())
    idempotent(box, pillar, "base")
    assert box.exec("cat /etc/webstack-tz").stdout.strip() == "UTC"
