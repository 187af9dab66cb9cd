{%- from "settings.jinja" import ws with context %}
{#- The fleet's CA (webstack:peer_tls:ca), on every box: what clients verify
    the servers of other boxes against (PostgreSQL's sslmode=verify-full).
    Servers keep their own certificate and key where their component's
    states put them. #}
{%- set peer_tls = ws.peer_tls %}
{%- if peer_tls.enabled %}

base-peer-tls-directory-exists:
  file.directory:
    - name: {{ peer_tls.dir }}
    - user: root
    - group: root
    - mode: "0755"
    - makedirs: true

base-peer-tls-ca-file-holds-the-fleet-ca:
  file.managed:
    - name: {{ peer_tls.ca_file }}
    - contents: {{ peer_tls.ca | tojson }}
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: base-peer-tls-directory-exists
{%- else %}

{#- No CA any more: no stale trust left behind. #}
base-peer-tls-directory-is-absent:
  file.absent:
    - name: {{ peer_tls.dir }}
{%- endif %}
