{%- from "settings.jinja" import ws with context %}
{%- set tls = ws.balancer.tls %}
include:
  - balancer.config

{#- A reload (never a restart: open connections finish) when anything haproxy
    reads changed; each was accepted by haproxy before it landed. #}
balancer-haproxy-runs-and-reloads-on-changes:
  service.running:
    - name: haproxy
    - enable: true
    - reload: true
    - require:
      - pkg: balancer-haproxy-is-installed
    - watch:
      - file: balancer-config-is-checked-then-installed
{%- if tls.source == 'pillar' %}
      - file: balancer-certificate-and-key-are-checked-then-installed
{%- elif tls.source in ('self_signed', 'acme') %}
      - x509: balancer-self-signed-key-exists
      - x509: balancer-self-signed-certificate-names-the-site
{%- endif %}
