{%- from "settings.jinja" import ws with context %}
{%- set pg = ws.postgresql %}
include:
  - postgresql.install

{#- Our settings in a file of their own, read after postgresql.conf (Debian's
    include_dir). PostgreSQL itself checks it before it lands: `postgres -C`
    parses it and rejects unknown names and bad values. #}
postgresql-settings-are-sized-for-this-host:
  file.managed:
    - name: {{ pg.conf_dir }}/conf.d/50-webstack.conf
    - source: salt://postgresql/files/webstack.conf.jinja
    - template: jinja
    - context:
        port: {{ pg.port }}
        listen_addresses: {{ pg.listen_addresses|tojson }}
        conf: {{ pg.conf|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0644"
    - check_cmd: >-
        sh -c 'exec runuser -u postgres -- {{ pg.bin_dir }}/postgres -D {{ pg.data_dir }}
        -c config_file="$0" -C port'
    - require:
      - pkg: postgresql-server-is-installed

{#- Local OS users by peer, TCP from loopback and, over TLS, the app's hosts
    and the replicas with a SCRAM password only: no trust, no md5, nothing
    else remote. #}
postgresql-lets-in-only-its-clients:
  file.managed:
    - name: {{ pg.conf_dir }}/pg_hba.conf
    - source: salt://postgresql/files/pg_hba.conf.jinja
    - template: jinja
    - context:
        clients: {{ pg.replication.app_clients|tojson }}
        replicas: {{ pg.replication.peers|tojson }}
        database: {{ pg.database|tojson }}
        role: {{ pg.user|tojson }}
        replication_role: {{ pg.replication.user|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0640"
    - require:
      - pkg: postgresql-server-is-installed

{#- The certificate peers verify (from the fleet's CA, webstack:peer_tls),
    PostgreSQL's own copy: its key must belong to postgres. A reload picks
    up a new one. #}
{%- if pg.ssl.enabled %}
postgresql-has-its-certificate-for-peers:
  file.managed:
    - name: {{ pg.ssl.cert_file }}
    - contents: {{ ws.peer_tls.certificate|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0644"
    - require:
      - pkg: postgresql-server-is-installed

postgresql-has-its-key-for-peers:
  file.managed:
    - name: {{ pg.ssl.key_file }}
    - contents: {{ ws.peer_tls.key|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0600"
    - show_changes: false
    - require:
      - pkg: postgresql-server-is-installed
{%- else %}
postgresql-has-no-certificate-for-peers:
  file.absent:
    - names:
      - {{ pg.ssl.cert_file }}
      - {{ pg.ssl.key_file }}
{%- endif %}
