{%- from "settings.jinja" import ws with context %}
nginx-package-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['nginx']) | tojson }}
