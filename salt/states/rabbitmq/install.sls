{%- from "map.jinja" import ws with context %}
{%- from "rabbitmq/map.jinja" import mq with context %}
include:
  - rabbitmq.config

rabbitmq-server-is-installed:
  pkg.installed:
    - pkgs: {{ mq.packages|tojson }}
    - require:
      - file: rabbitmq-node-keeps-erlang-ports-on-loopback
      - file: rabbitmq-listens-where-its-clients-are
      - file: rabbitmq-epmd-listens-on-loopback-only
