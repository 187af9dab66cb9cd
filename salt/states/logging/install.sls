{%- from "settings.jinja" import ws with context %}
{#- rsyslog, and with forwarding its TLS driver (gtls) and the CAs. #}
logging-rsyslog-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['logging']) | tojson }}
