{%- from "settings.jinja" import ws with context %}
{%- if ws.fail2ban.enabled %}
include:
  - fail2ban.install

{#- jail.d/*.local is read last: ours wins over jail.conf and Debian's
    defaults-debian.conf. The new file is tested with the rest of
    /etc/fail2ban, in a copy, before it lands. #}
fail2ban-sshd-jail-is-ours:
  file.managed:
    - name: /etc/fail2ban/jail.d/webstack.local
    - source: salt://fail2ban/files/jail.local.jinja
    - template: jinja
    - context:
        f2b: {{ ws.fail2ban | tojson }}
    - mode: '0644'
    - check_cmd: >-
        sh -c 'd=$(mktemp -d) && cp -a /etc/fail2ban/. "$d" &&
        cp "$1" "$d/jail.d/webstack.local" && fail2ban-client -c "$d" -t;
        rc=$?; rm -rf "$d"; exit $rc' fail2ban-check
    - require:
      - pkg: fail2ban-and-its-journal-reader-are-installed
{%- endif %}
