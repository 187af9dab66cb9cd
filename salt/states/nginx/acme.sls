{%- from "settings.jinja" import ws with context %}
{%- from "tls.jinja" import acme_states with context %}
include:
  - nginx.service
{#- The certificate from the ACME CA (webstack:nginx:tls:acme), once nginx
    serves the http-01 challenge from certbot's webroot on port 80. #}
{{ acme_states('nginx', ws.nginx.tls, 'service: nginx-runs-and-reloads-on-changes') }}
