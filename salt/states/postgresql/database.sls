{%- from "settings.jinja" import ws with context %}
{%- set pg = ws.postgresql %}
include:
  - postgresql.service
{%- if opts['test'] and not salt['cmd.which']('psql') %}

{#- A dry run on a new box: Salt's postgres states load only once psql is
    installed. Say what the real run does. #}
postgresql-app-role-and-database-come-with-the-server:
  test.configurable_test_state:
    - name: {{ pg.user }}
    - changes: true
    - result: true
    - comment: >-
        The role {{ pg.user }} (SCRAM password) and its database
        {{ pg.database }} would be created once PostgreSQL is installed.
{%- else %}

{#- Salt hashes the password itself (SCRAM-SHA-256, as password_encryption
    says too) and compares it with the stored verifier: no plain text on the
    wire, no change when it matches. #}
postgresql-app-role-logs-in-with-its-password:
  postgres_user.present:
    - name: {{ pg.user }}
    - password: {{ pg.password|tojson }}
    - encrypted: scram-sha-256
    - login: true
    - superuser: false
    - createdb: false
    - createroles: false
    - replication: false
    - user: postgres
    - db_port: {{ pg.port }}
    - require:
      - postgresql_cluster: postgresql-cluster-applies-its-configuration

postgresql-app-database-belongs-to-its-role:
  postgres_database.present:
    - name: {{ pg.database }}
    - owner: {{ pg.user }}
    - encoding: UTF8
    - template: template0
    - user: postgres
    - db_port: {{ pg.port }}
    - require:
      - postgres_user: postgresql-app-role-logs-in-with-its-password
{%- endif %}
