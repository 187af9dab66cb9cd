{#- PostgreSQL from the release, holding the app's role and database:
    listening on loopback unless web or worker hosts use it, letting in only
    those hosts (scram-sha-256), sized for this host's memory and CPUs. #}
include:
  - postgresql.install
  - postgresql.config
  - postgresql.service
  - postgresql.database
