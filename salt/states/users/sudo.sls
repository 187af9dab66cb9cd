{%- from "settings.jinja" import ws with context %}
{#- Passwordless sudo for the developers the pillar grants it (they have no
    password). Rendered from the pillar, so whoever is dropped from it loses
    sudo with the same run. visudo checks the file before it lands: a broken
    sudoers file would lock everyone out of sudo. #}
include:
  - base.packages

users-sudo-rights-of-developers-are-granted:
  file.managed:
    - name: /etc/sudoers.d/webstack-developers
    - source: salt://users/files/sudoers.jinja
    - template: jinja
    - context:
        developers: {{ ws.users.developers | tojson }}
    - user: root
    - group: root
    - mode: '0440'
    - check_cmd: /usr/sbin/visudo -c -q -f
    - require:
      - pkg: base-packages-are-installed
