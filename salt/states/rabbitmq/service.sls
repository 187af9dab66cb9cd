{%- from "map.jinja" import ws with context %}
{%- from "rabbitmq/map.jinja" import mq with context %}
include:
  - rabbitmq.config
  - rabbitmq.install

{#- Salt reloads systemd itself when a unit's drop-ins changed. #}
rabbitmq-epmd-socket-is-listening:
  service.running:
    - name: epmd.socket
    - enable: true
    - require:
      - pkg: rabbitmq-server-is-installed
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
