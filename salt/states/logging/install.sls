{%- from "map.jinja" import ws with context %}
{%- set fwd = salt['webstack_logging.forwarding'](ws) %}

logging-rsyslog-is-installed:
  pkg.installed:
    - pkgs:
      - rsyslog
{%- if fwd.enabled %}
      # rsyslog's TLS driver (gtls) and the CAs the destination may be signed by
      - rsyslog-gnutls
      - ca-certificates
{%- endif %}
