# The demo: the whole stack on one box, serving the example Django app.
# Not for production: its secrets are public.
webstack:
  project:
    name: demo
    domains: [demo.webstack.test, www.demo.webstack.test]
  roles: [web, worker, db, queue, cache]
  users:
    developers:
      # Nobody holds this key's private half: put your own here to log in
      # (ssh dev@<box>, then sudo).
      dev:
        ssh_keys:
          - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDszlRGDHvs67bwQM473B4FaJcU7AUkOzLgtQsAdFtbW demo@webstack.test
        sudo: true
  # Logs stay on the box (/var/log/syslog, /var/log/nginx/). To ship them to
  # Papertrail too, over TLS (see pillar.example):
  #   logging:
  #     remote:
  #       host: logsN.papertrailapp.com
  #       port: 12345
  #       permitted_peers: ['*.papertrailapp.com']
  postgresql:
    password: demo-db-password
  rabbitmq:
    password: demo-mq-password
  cache:
    redis:
      enabled: true
  nginx:
    # https with a certificate made on the box (curl -k, or --cacert
    # /etc/nginx/tls/selfsigned.crt); http redirects to it.
    tls:
      enabled: true
      self_signed: true
  # The example Django app (example/ of this repository, mounted at
  # /opt/webstack): gunicorn on web boxes, its Celery worker and beat.
  app:
    source:
      path: /opt/webstack/example
    celery: demo
    secrets:
      SECRET_KEY: demo-secret-key-not-secret-at-all-0123456789abcdefghij
  supervisor:
    celery:
      beat: true
  # Backups of the database (WAL archived every minute at most, full and
  # differential backups) and of the media files, encrypted, into a
  # directory on the box: `salt-call backup.status`, `salt-call backup.run
  # full`. In production: an S3-compatible store elsewhere (pillar.example).
  backup:
    enabled: true
    repository:
      path: /var/backups/webstack
    passphrase: demo-backup-passphrase-not-secret
