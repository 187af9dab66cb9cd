{%- from "settings.jinja" import ws with context %}
{%- set tls = ws.nginx.tls %}
{%- set nginx_conf %}{% include "nginx/files/nginx.conf.jinja" %}{% endset %}
{%- set catch_all %}{% include "nginx/files/catch-all.conf.jinja" %}{% endset %}
{%- set site %}{% include "nginx/files/site.conf.jinja" %}{% endset %}
{#- Everything nginx reads from /etc/nginx, as one state: checked together with
    `nginx -t` on a staged copy, installed only when nginx accepts it. #}
nginx-config-is-checked-then-installed:
  webstack_nginx.config_managed:
    # /etc/nginx: the paths of the TLS files are relative to it.
    - name: {{ tls.base }}
    - files:
        nginx.conf:
          contents: {{ (nginx_conf | trim ~ '\n') | json }}
        sites-available/webstack-catch-all.conf:
          contents: {{ (catch_all | trim ~ '\n') | json }}
        sites-available/webstack-site.conf:
          contents: {{ (site | trim ~ '\n') | json }}
{%- for name, page in salt['maintenance.layout'](ws).pages | dictsort %}
  {%- set html %}{% include "nginx/files/" ~ name ~ ".html" %}{% endset %}
        # What nginx answers with when the release ships no page of its own.
        {{ page.file }}:
          contents: {{ (html | trim ~ '\n') | json }}
{%- endfor %}
{%- if tls.source == 'pillar' %}
        # nginx serves the certificate followed by its chain.
        {{ tls.files.cert }}:
          contents: {{ ([tls.certificate, tls.chain or ''] | map('trim') | select | join('\n') ~ '\n') | json }}
        {{ tls.files.key }}:
          contents: {{ (tls.key | trim ~ '\n') | json }}
          mode: '0600'
          secret: true
  {%- if tls.files.get('chain') %}
        {{ tls.files.chain }}:
          contents: {{ (tls.chain | trim ~ '\n') | json }}
  {%- endif %}
{%- endif %}
    - links:
        sites-enabled/webstack-catch-all.conf: ../sites-available/webstack-catch-all.conf
        sites-enabled/webstack-site.conf: ../sites-available/webstack-site.conf
    - absent:
        # Debian's welcome page would answer any Host.
        - sites-enabled/default
        # Certificates and keys no longer in use.
{%- for path in tls.unused %}
        - {{ path }}
{%- endfor %}
    - require:
      - pkg: nginx-package-is-installed
{%- if tls.source != 'off' %}
      - file: nginx-tls-directory-is-private
{%- endif %}
{%- if tls.source in ('self_signed', 'acme') %}
      - x509: nginx-self-signed-certificate-names-the-site
{%- endif %}
