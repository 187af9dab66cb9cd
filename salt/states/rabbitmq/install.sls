{%- from "settings.jinja" import ws with context %}
include:
  - rabbitmq.config

rabbitmq-server-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['rabbitmq']) | tojson }}
    - require:
      - file: rabbitmq-node-keeps-erlang-ports-on-loopback
      - file: rabbitmq-listens-where-its-clients-are
      - file: rabbitmq-epmd-listens-on-loopback-only
