{%- from "settings.jinja" import ws with context %}
balancer-haproxy-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['balancer']) | tojson }}
