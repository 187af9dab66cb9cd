{%- from "settings.jinja" import ws with context %}
{%- set mq = ws.rabbitmq %}
include:
  - rabbitmq.config
  - rabbitmq.install

{#- systemd (252) misses a drop-in directory that is new since it loaded
    the unit (base installs the package before this role writes it): load
    it explicitly. #}
rabbitmq-epmd-unit-changes-are-loaded:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: rabbitmq-epmd-listens-on-loopback-only

rabbitmq-epmd-socket-is-listening:
  service.running:
    - name: epmd.socket
    - enable: true
    - require:
      - pkg: rabbitmq-server-is-installed
      - cmd: rabbitmq-epmd-unit-changes-are-loaded
    - watch:
      - file: rabbitmq-epmd-listens-on-loopback-only

{#- RabbitMQ reads its files only at start: a change restarts it. The unit
    is Type=notify: running means the node takes commands. #}
rabbitmq-server-is-running:
  service.running:
    - name: rabbitmq-server
    - enable: true
    - require:
      - pkg: rabbitmq-server-is-installed
    - watch:
      - file: rabbitmq-node-keeps-erlang-ports-on-loopback
      - file: rabbitmq-listens-where-its-clients-are
      - service: rabbitmq-epmd-socket-is-listening
