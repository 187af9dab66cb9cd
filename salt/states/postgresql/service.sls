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
