"""
An AMQP round trip with pika (test_rabbitmq.py runs it with the python of a
venv holding pika): `amqp_roundtrip.py URL TEXT` publishes TEXT on the URL's
vhost and reads it back (`got TEXT`), or prints `refused <error>`.
"""

import sys

import pika

try:
    conn = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
except pika.exceptions.AMQPConnectionError as exc:
    print("refused", type(exc).__name__)
    sys.exit()
channel = conn.channel()
channel.queue_declare("webstack-test")
channel.basic_publish("", "webstack-test", sys.argv[2].encode())
method, _, body = channel.basic_get("webstack-test", auto_ack=True)
print("got", body.decode())
conn.close()
