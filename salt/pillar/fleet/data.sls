# Not for production: these secrets are public.
webstack:
  postgresql:
    password: fleet-db-password
    # The replica streams from db with it; a commit waits until the replica
    # has it too (no acknowledged transaction lost with the primary).
    replication:
      password: fleet-replication-password
      synchronous: true
  rabbitmq:
    password: fleet-mq-password
  cache:
    redis:
      enabled: true
      password: fleet-cache-password
  # Backups: the db box archives its WAL and backs up the database, the app
  # boxes their media files, into a directory on each box here; in
  # production an S3-compatible store elsewhere (see pillar.example).
  backup:
    enabled: true
    repository:
      path: /var/backups/webstack
    passphrase: fleet-backup-passphrase-not-secret
