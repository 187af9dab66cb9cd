{%- from "settings.jinja" import ws with context %}
{%- set pg = ws.postgresql %}
include:
  - postgresql.install
  - postgresql.config

postgresql-starts-at-boot:
  service.enabled:
    - name: postgresql
    - require:
      - pkg: postgresql-server-is-installed

postgresql-cluster-is-running:
  service.running:
    - name: {{ pg.service }}
    - require:
      - pkg: postgresql-server-is-installed

{%- if pg.replication.role == "primary" %}

{#- The superuser's own writes (our states, backups, an operator's psql)
    commit locally: with synchronous replication on they would otherwise
    wait for a replica, and a new primary's first run (its roles, before
    any replica streams) would wait forever. The app's commits wait.
    runuser, not `runas`: Salt skips a state whose `unless` it cannot run as
    a user that does not exist yet, so a dry run on a fresh box would say
    nothing of this. #}
postgresql-admin-writes-do-not-wait-for-replicas:
  cmd.run:
    - name: >-
        runuser -u postgres -- psql -XAtq -p {{ pg.port }} -c "SET synchronous_commit = local"
        -c "ALTER ROLE postgres SET synchronous_commit = local"
    - unless: >-
        runuser -u postgres -- psql -XAtq -p {{ pg.port }} -c "SELECT 1 FROM pg_db_role_setting
        WHERE setrole = 'postgres'::regrole AND setdatabase = 0
        AND 'synchronous_commit=local' = ANY (setconfig)" | grep -q 1
    - require:
      - service: postgresql-cluster-is-running
    - require_in:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration
{%- endif %}

{#- A changed file reloads the cluster; it restarts only when a changed
    setting needs it (pending_restart), see _states/postgresql_cluster.py. #}
postgresql-cluster-applies-its-configuration:
  postgresql_cluster.config_applied:
    - name: {{ pg.service }}
    - port: {{ pg.port }}
    - require:
      - service: postgresql-cluster-is-running
    - watch:
      - file: postgresql-settings-are-sized-for-this-host
      - file: postgresql-lets-in-only-its-clients
{%- if pg.ssl.enabled %}
      - file: postgresql-has-its-certificate-for-peers
      - file: postgresql-has-its-key-for-peers
{%- endif %}
