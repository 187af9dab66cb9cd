{%- from "settings.jinja" import ws with context %}
{#- The app's shared directory exists before supervisord starts: its sandbox
    (defaults.yaml `sandbox`) makes it writable, which a directory made
    later would not be until a restart. #}
include:
  - app.layout

supervisor-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['supervisor']) | tojson }}

{#- The packaged unit (Debian, Ubuntu) restarts a dead supervisord only
    after 50 s and, with KillMode=process, leaves its programs running
    orphaned: the new one then starts a second gunicorn, worker and beat.
    Instead: back within a second, and what the dead one ran goes with it
    (a normal stop still lets supervisord stop each program gracefully). #}
supervisor-restarts-at-once-without-orphans:
  file.managed:
    - name: /etc/systemd/system/{{ ws.supervisor.service }}.service.d/webstack.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (webstack supervisor role).
        [Service]
        KillMode=mixed
        RestartSec=100ms

supervisor-unit-changes-are-loaded:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: supervisor-restarts-at-once-without-orphans

supervisor-is-running:
  service.running:
    - name: {{ ws.supervisor.service }}
    - enable: true
    - require:
      - pkg: supervisor-is-installed
      - cmd: supervisor-unit-changes-are-loaded
      - file: app-shared-directories-belong-to-the-project-user
