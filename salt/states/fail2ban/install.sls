{%- from "settings.jinja" import ws with context %}
{%- if ws.fail2ban.enabled %}
fail2ban-and-its-journal-reader-are-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['fail2ban']) | tojson }}
{%- endif %}
