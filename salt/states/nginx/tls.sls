{%- from "settings.jinja" import ws with context %}
{%- from "tls.jinja" import tls_states with context %}
{#- Certificates from the pillar are files of nginx-config-is-checked-then-installed;
    a self-signed one is made here (tls.jinja). #}
{{ tls_states('nginx', ws.nginx.tls, 'pkg', 'nginx-package-is-installed') }}
