{%- from "settings.jinja" import ws with context %}
include:
  - firewall.install

# Exactly the rules webstack wants, each marked with a `webstack:` comment:
# those the pillar no longer lists are removed, rules made by hand are left
# alone, and a rule set that would shut ssh out is refused.
firewall-allows-ssh-and-the-ports-of-the-box-components:
  ufw.rules_managed:
    - rules: {{ salt['ufw.rules_for'](ws) | tojson }}
    - ssh_port: {{ salt['ufw.ssh_port'](ws) }}
    - require:
      - pkg: firewall-ufw-is-installed
