{%- from "settings.jinja" import ws with context %}
{%- set pg = ws.postgresql %}
{%- set rep = pg.replication %}
{#- A dry run on a new box: Salt's postgres states load only once psql is
    installed (as in postgresql/database.sls). #}
{%- set before_server = opts['test'] and not salt['cmd.which']('psql') %}
include:
  - postgresql.service
{%- if rep.role == "primary" %}
{%- if rep.get("password") %}

{#- The role the replicas stream as: replication only, no database of its
    own, a SCRAM password (on the replicas it arrives with the rest). #}
postgresql-replication-role-logs-in-with-its-password:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The replication role {{ rep.user }} (SCRAM password) would be created once PostgreSQL is installed.
{%- else %}
  postgres_user.present:
    - password: {{ rep.password|tojson }}
    - encrypted: scram-sha-256
    - login: true
    - replication: true
    - superuser: false
    - createdb: false
    - createroles: false
    - user: postgres
    - db_port: {{ pg.port }}
{%- endif %}
    - name: {{ rep.user }}
    - require:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration
{%- endif %}

{#- One slot for each replica: the primary keeps the WAL a replica has not
    received yet (up to max_slot_wal_keep_size), and drops the slots of
    replicas no longer in the fleet. #}
postgresql-keeps-a-slot-for-each-replica:
  postgresql_replica.slots_present:
    - name: replication slots
    - slots: {{ rep.slots|tojson }}
    - port: {{ pg.port }}
    - require:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration
{%- else %}

{#- Once: the new cluster the package made is replaced by a base backup of
    the primary, streaming from then on. #}
postgresql-replica-is-built-from-the-primary:
  postgresql_replica.standby_built:
    - name: {{ pg.data_dir }}
    - service: {{ pg.service }}
    - bin_dir: {{ pg.bin_dir }}
    - primary: {{ rep.primary }}
    - conninfo: {{ rep.conninfo|tojson }}
    - slot: {{ rep.slot }}
    - port: {{ pg.port }}
    - require:
      - file: postgresql-knows-the-replication-password
      - postgresql_cluster: postgresql-cluster-applies-its-configuration
{%- endif %}
{%- if rep.active %}

{#- The replication role's password in a passfile (never in the
    configuration files): a replica's primary_conninfo and the fence use it. #}
postgresql-knows-the-replication-password:
  file.managed:
    - name: {{ rep.passfile }}
    - contents: {{ rep.pgpass|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0600"
    - show_changes: false
    - require:
      - pkg: postgresql-server-is-installed

{#- A primary that was replaced while it was down does not come back as a
    second primary: before it starts, it asks its replicas whether one of
    them was promoted (fence.sh), and refuses if so. #}
postgresql-fence-asks-the-replicas-before-a-start:
  file.managed:
    - names:
      - /usr/local/lib/webstack/postgresql-fence:
        - source: salt://postgresql/files/fence.sh
        - mode: "0755"
      - {{ rep.fence_peers }}:
        - contents: {{ rep.fence_peers_text|tojson }}
        - user: postgres
        - group: postgres
        - mode: "0644"
      - {{ rep.fence_dropin }}:
        - contents: |
            # Managed by Salt (webstack postgresql role): edits are overwritten.
            [Service]
            ExecStartPre=/usr/local/lib/webstack/postgresql-fence {{ pg.data_dir }} {{ pg.bin_dir }} {{ rep.fence_peers }} "{{ rep.peer_conninfo }}"
        - mode: "0644"
    - makedirs: true
    - require:
      - pkg: postgresql-server-is-installed

postgresql-fence-is-loaded:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: postgresql-fence-asks-the-replicas-before-a-start

{#- Every five minutes: lag and slots checked, red or green in syslog
    (webstack-replication), forwarded with the rest. #}
postgresql-replication-check-is-installed:
  file.managed:
    - names:
      - /etc/systemd/system/webstack-replication-status.service:
        - source: salt://postgresql/files/replication-status.service
      - /etc/systemd/system/webstack-replication-status.timer:
        - source: salt://postgresql/files/replication-status.timer
    - mode: "0644"

postgresql-replication-check-runs-on-its-timer:
  service.running:
    - name: webstack-replication-status.timer
    - enable: true
    - require:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration
    - watch:
      - file: postgresql-replication-check-is-installed
{%- else %}

postgresql-has-no-replication-files:
  file.absent:
    - names:
      - {{ rep.passfile }}
      - {{ rep.fence_peers }}
      - {{ rep.fence_dropin }}

postgresql-replication-check-is-stopped:
  service.dead:
    - name: webstack-replication-status.timer
    - enable: false
    - onlyif: test -e /etc/systemd/system/webstack-replication-status.timer

postgresql-replication-check-is-removed:
  file.absent:
    - names:
      - /etc/systemd/system/webstack-replication-status.timer
      - /etc/systemd/system/webstack-replication-status.service
    - require:
      - service: postgresql-replication-check-is-stopped
{%- endif %}
