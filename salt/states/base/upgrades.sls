{%- from "settings.jinja" import ws with context %}
{#- Our settings go in a file of our own read after the package's
    50unattended-upgrades: it clears the package's origin lists (Debian's
    default also takes point releases) and sets security origins only. #}

base-unattended-upgrades-take-security-updates-only:
  file.managed:
    - name: /etc/apt/apt.conf.d/60webstack-unattended-upgrades
    - source: salt://base/files/unattended-upgrades.conf.jinja
    - template: jinja
    - context:
        conf: {{ ws.base.unattended_upgrades | tojson }}
    - mode: '0644'
    - check_cmd: apt-config dump -c
    - require:
      - pkg: base-packages-are-installed

{#- apt's timers run `apt-get update` and unattended-upgrade every day. #}
base-apt-daily-timers-are-running:
  service.running:
    - names:
      - apt-daily.timer
      - apt-daily-upgrade.timer
    - enable: true
    - require:
      - file: base-unattended-upgrades-take-security-updates-only
