{%- from "settings.jinja" import ws with context %}
{#- PostgreSQL from the release, holding the app's role and database:
    listening on loopback unless web or worker hosts (or replicas) use it,
    letting in only those hosts (scram-sha-256, over TLS), sized for this
    host's memory and CPUs. A replica (fleet role db_replica) gets the
    app's role and database from the primary it streams from. #}
include:
  - postgresql.install
  - postgresql.config
  - postgresql.service
{%- if ws.postgresql.replication.role == "primary" %}
  - postgresql.database
{%- endif %}
  - postgresql.replication
