firewall-ufw-is-installed:
  pkg.installed:
    - name: ufw
