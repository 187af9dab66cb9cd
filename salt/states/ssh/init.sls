{#- OpenSSH server: keys only, no root, only the developers (and allow_groups). #}
include:
  - ssh.config
  - ssh.service
