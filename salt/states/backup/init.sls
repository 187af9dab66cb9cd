{#- Backups off the box: PostgreSQL's WAL archived as it is written, full and
    differential backups (pgBackRest) on the db box; the app's media files
    (restic) on boxes running the app; a status check on a timer. All
    encrypted, in an S3-compatible store or a directory. With backups off,
    archiving and the timers are removed. #}
include:
  - backup.install
  - backup.database
  - backup.media
  - backup.timers
