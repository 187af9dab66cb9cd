{%- from "settings.jinja" import ws with context %}
{#- A reload (never a restart) when something nginx reads changed; the config
    state has already had it accepted by `nginx -t`. #}
nginx-runs-and-reloads-on-changes:
  service.running:
    - name: nginx
    - enable: true
    - reload: true
    - require:
      - pkg: nginx-package-is-installed
    - watch:
      - webstack_nginx: nginx-config-is-checked-then-installed
{%- if ws.nginx.tls.source in ('self_signed', 'acme') %}
      - x509: nginx-self-signed-key-exists
      - x509: nginx-self-signed-certificate-names-the-site
{%- endif %}
