{%- from "map.jinja" import ws with context %}
nginx-package-is-installed:
  pkg.installed:
    - name: {{ ws.nginx.package }}
