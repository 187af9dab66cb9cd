{%- from "settings.jinja" import ws with context %}
{%- set pg = ws.postgresql %}
{#- A dry run on a new box: Salt's postgres states load only once psql is
    installed. Each state says, under its own ID, what the real run does. #}
{%- set before_server = opts['test'] and not salt['cmd.which']('psql') %}
include:
  - postgresql.service

{#- Salt hashes the password itself (SCRAM-SHA-256, as password_encryption
    says too) and compares it with the stored verifier: no plain text on the
    wire, no change when it matches. #}
postgresql-app-role-logs-in-with-its-password:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The role {{ pg.user }} (SCRAM password) would be created once PostgreSQL is installed.
{%- else %}
  postgres_user.present:
    - password: {{ pg.password|tojson }}
    - encrypted: scram-sha-256
    - login: true
    - superuser: false
    - createdb: false
    - createroles: false
    - replication: false
    - user: postgres
    - db_port: {{ pg.port }}
{%- endif %}
    - name: {{ pg.user }}
    - require:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration

postgresql-app-database-belongs-to-its-role:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The database {{ pg.database }} owned by {{ pg.user }} would be created once PostgreSQL is installed.
{%- else %}
  postgres_database.present:
    - owner: {{ pg.user }}
    - encoding: UTF8
    - template: template0
    - user: postgres
    - db_port: {{ pg.port }}
{%- endif %}
    - name: {{ pg.database }}
    - require:
      - id: postgresql-app-role-logs-in-with-its-password
