{%- from "settings.jinja" import ws with context %}
{%- set backup = ws.backup %}
include:
  - backup.database
  - backup.media

{#- Each backup a oneshot service on a timer (`systemctl list-timers
    'webstack-backup-*'`); `salt-call backup.run <kind>` starts one now. #}
{%- for name in backup.unit_names %}
{%- set unit = backup.units.get(name) %}
{%- if unit %}
{{ name }}-service-is-installed:
  file.managed:
    - name: /etc/systemd/system/{{ name }}.service
    - source: salt://backup/files/unit.service.jinja
    - template: jinja
    - context:
        unit: {{ unit|tojson }}
    - mode: "0644"

{{ name }}-timer-is-installed:
  file.managed:
    - name: /etc/systemd/system/{{ name }}.timer
    - source: salt://backup/files/unit.timer.jinja
    - template: jinja
    - context:
        unit: {{ unit|tojson }}
    - mode: "0644"

{{ name }}-timer-runs:
  service.running:
    - name: {{ name }}.timer
    - enable: true
    - require:
{%- if backup.database.active %}
      - backup: backup-database-has-a-full-backup
{%- endif %}
{%- if backup.media.active %}
      - backup: backup-media-repository-holds-a-snapshot
{%- endif %}
    - watch:
      - file: {{ name }}-service-is-installed
      - file: {{ name }}-timer-is-installed
{%- else %}
{{ name }}-timer-is-stopped:
  service.dead:
    - name: {{ name }}.timer
    - enable: false
    - onlyif: test -e /etc/systemd/system/{{ name }}.timer

{{ name }}-units-are-removed:
  file.absent:
    - names:
      - /etc/systemd/system/{{ name }}.timer
      - /etc/systemd/system/{{ name }}.service
    - require:
      - service: {{ name }}-timer-is-stopped
{%- endif %}
{%- endfor %}
