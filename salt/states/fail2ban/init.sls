# Brute-force protection (every box): fail2ban reads sshd's journal and bans
# addresses that keep failing, in nftables' own table (inet f2b-table), which
# our ufw state neither reads nor removes. Loopback, the fleet's peers and
# the pillar's allow-list are never banned (_modules/bans.py).
include:
  - fail2ban.install
  - fail2ban.config
  - fail2ban.service
