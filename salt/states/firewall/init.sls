# The firewall of every box (ufw): incoming connections dropped but for ssh
# and the ports of the box's fleet roles, some open only to the peers that
# use them. The rules are worked out in _modules/ufw.py (ufw.rules_for).
include:
  - firewall.install
  - firewall.rules
  - firewall.service
