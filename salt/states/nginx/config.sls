{%- from "map.jinja" import ws with context %}
{%- from "nginx/vars.jinja" import tls, tls_source, tls_files, conf_dir with context %}
{%- set nginx_conf %}{% include "nginx/files/nginx.conf.jinja" %}{% endset %}
{%- set catch_all %}{% include "nginx/files/catch-all.conf.jinja" %}{% endset %}
{%- set site %}{% include "nginx/files/site.conf.jinja" %}{% endset %}
{%- set mine = tls_files.pillar %}
{#- Everything nginx reads from /etc/nginx, as one state: checked together with
    `nginx -t` on a staged copy, installed only when nginx accepts it. #}
nginx-config-is-checked-then-installed:
  webstack_nginx.config_managed:
    - name: {{ conf_dir }}
    - files:
        nginx.conf:
          contents: {{ (nginx_conf | trim ~ '\n') | json }}
        sites-available/webstack-catch-all.conf:
          contents: {{ (catch_all | trim ~ '\n') | json }}
        sites-available/webstack-site.conf:
          contents: {{ (site | trim ~ '\n') | json }}
{%- if tls_source == 'pillar' %}
        # nginx serves the certificate followed by its chain.
        {{ mine.cert }}:
          contents: {{ ([tls.certificate, tls.chain or ''] | map('trim') | select | join('\n') ~ '\n') | json }}
        {{ mine.key }}:
          contents: {{ (tls.key | trim ~ '\n') | json }}
          mode: '0600'
          secret: true
  {%- if tls.chain %}
        {{ mine.chain }}:
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
{%- for source, paths in tls_files.items() %}
  {%- for kind, path in paths.items() %}
    {%- if source != tls_source or (kind == 'chain' and not tls.chain) %}
        - {{ path }}
    {%- endif %}
  {%- endfor %}
{%- endfor %}
    - require:
      - pkg: nginx-package-is-installed
{%- if tls_source != 'off' %}
      - file: nginx-tls-directory-is-private
{%- endif %}
{%- if tls_source == 'self_signed' %}
      - x509: nginx-self-signed-certificate-names-the-site
{%- endif %}
