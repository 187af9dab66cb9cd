{%- from "settings.jinja" import ws with context %}
firewall-ufw-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['firewall']) | tojson }}
