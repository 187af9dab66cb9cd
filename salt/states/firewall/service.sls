{%- from "settings.jinja" import ws with context %}
include:
  - firewall.rules

# Only once the ssh allow is in: deny by default, then on.
firewall-denies-incoming-and-is-enabled:
  ufw.enabled:
    - incoming: deny
    - outgoing: allow
    - ipv6: {{ ws.firewall.ipv6 }}
    - ssh_port: {{ salt['ufw.ssh_port'](ws) }}
    - require:
      - ufw: firewall-allows-ssh-and-the-ports-of-the-box-components

# `ufw enable` loads the rules but leaves ufw.service inactive until the
# next boot; run it so systemd's view matches and it starts at boot.
firewall-ufw-service-loads-the-rules-at-boot:
  service.running:
    - name: ufw
    - enable: true
    - require:
      - ufw: firewall-denies-incoming-and-is-enabled
