{%- from "map.jinja" import ws with context %}

supervisor-is-installed:
  pkg.installed:
    - name: {{ ws.supervisor.package }}

supervisor-is-running:
  service.running:
    - name: {{ ws.supervisor.service }}
    - enable: true
    - require:
      - pkg: supervisor-is-installed
