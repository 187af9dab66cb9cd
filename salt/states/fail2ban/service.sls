{%- from "settings.jinja" import ws with context %}
{%- if ws.fail2ban.enabled %}
include:
  - fail2ban.config

{#- A reload keeps the bans in force (a restart would restore them from
    fail2ban's database too, after a gap). #}
fail2ban-is-running:
  service.running:
    - name: {{ ws.fail2ban.service }}
    - enable: true
    - reload: true
    - watch:
      - file: fail2ban-sshd-jail-is-ours
{%- else %}

fail2ban-is-stopped:
  service.dead:
    - name: {{ ws.fail2ban.service }}
    - enable: false
{%- endif %}
