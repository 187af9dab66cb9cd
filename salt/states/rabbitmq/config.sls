{%- from "settings.jinja" import ws with context %}
{%- set mq = ws.rabbitmq %}
{#- Written before the package is installed, so its first start already
    uses them (the node name is fixed at first start: the data lives under
    it). RabbitMQ has no offline config check: every value here is one the
    schema has checked. #}
rabbitmq-node-keeps-erlang-ports-on-loopback:
  file.managed:
    - name: /etc/rabbitmq/rabbitmq-env.conf
    - source: salt://rabbitmq/files/rabbitmq-env.conf.jinja
    - template: jinja
    - context:
        nodename: {{ mq.nodename|tojson }}
    - makedirs: true
    - mode: "0644"

rabbitmq-listens-where-its-clients-are:
  file.managed:
    - name: /etc/rabbitmq/rabbitmq.conf
    - source: salt://rabbitmq/files/rabbitmq.conf.jinja
    - template: jinja
    - context:
        port: {{ mq.port }}
        listen_addresses: {{ mq.listen_addresses|tojson }}
        watermark: {{ mq.memory_high_watermark|tojson }}
    - makedirs: true
    - mode: "0644"

{#- epmd (Erlang's name server, socket-activated) listens on every address
    by default; the node only needs it locally. #}
rabbitmq-epmd-listens-on-loopback-only:
  file.managed:
    - name: /etc/systemd/system/epmd.socket.d/webstack.conf
    - contents: |
        # Managed by Salt (webstack rabbitmq role).
        [Socket]
        ListenStream=
        ListenStream=127.0.0.1:4369
    - makedirs: true
    - mode: "0644"
