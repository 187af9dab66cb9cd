"""
An AMQP login with the app's own client library (test_stack.py runs it with
the python of the release's venv): `amqp_login.py USER PASSWORD VHOST`
prints `connected` or `refused <error>`.
"""

import sys

import amqp

try:
    user, password, vhost = sys.argv[1:]
    amqp.Connection("127.0.0.1:5672", userid=user, password=password, virtual_host=vhost).connect()
except Exception as exc:
    print("refused", type(exc).__name__)
else:
    print("connected")
