{#- OpenSSH server: keys only, no root, only the developers (and allow_groups),
    modern algorithms only, new connections throttled. #}
include:
  - ssh.config
  - ssh.service
  - ssh.throttle
