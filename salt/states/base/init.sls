{%- from "map.jinja" import ws with context %}
base-timezone-is-set:
  file.managed:
    - name: /etc/webstack-tz
    - contents: {{ ws.base.timezone }}
