{#- rsyslog on every box: local logging as the distribution sets it up and,
    with webstack:logging:remote, everything forwarded over TLS (Papertrail)
    through a queue that outlives an outage of the destination. #}
include:
  - logging.install
  - logging.forward
  - logging.apparmor
  - logging.service
