{%- from "settings.jinja" import ws with context %}
{%- from "tls.jinja" import acme_states with context %}
include:
  - balancer.service
{#- The certificate from the ACME CA (webstack:balancer:tls:acme), once
    haproxy routes the http-01 challenge to certbot's own listener. #}
{{ acme_states('balancer', ws.balancer.tls, 'service: balancer-haproxy-runs-and-reloads-on-changes') }}
