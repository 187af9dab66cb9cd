{%- from "settings.jinja" import ws with context %}
{%- set p = ws.project %}
{%- set sv = ws.supervisor %}
{%- set g = sv.gunicorn %}
{%- set bin = p.root ~ '/current/.venv/bin' %}
{%- set run = p.root ~ '/bin/with-env ' ~ bin %}
{%- set celery = ws.app.celery %}
{#- What each program runs; a program whose fleet role this box lacks is removed. #}
{%- set programs = {
    'gunicorn': {
        'enabled': 'web' in ws.roles,
        'comment': 'gunicorn serving the live release on ' ~ ws.app.socket,
        'command': [
            run ~ '/gunicorn',
            '--chdir ' ~ p.root ~ '/current',
            '--bind unix:' ~ ws.app.socket ~ ' --umask 000',
            '--workers ' ~ (g.workers or 2 * grains['num_cpus'] + 1),
            '--timeout ' ~ g.timeout ~ ' --graceful-timeout ' ~ g.graceful_timeout,
            '--max-requests ' ~ g.max_requests ~ ' --max-requests-jitter ' ~ g.max_requests_jitter,
            ws.app.app_args | join(' '),
        ],
        'directory': p.root,
        'stopwaitsecs': g.graceful_timeout + 5,
        'reload_signal': g.reload_signal,
    },
    'celery': {
        'enabled': 'worker' in ws.roles and celery,
        'comment': 'the Celery worker (TERM: a warm shutdown, running tasks finish)',
        'command': [
            run ~ '/celery --app ' ~ celery ~ ' worker --loglevel INFO',
            '--hostname ' ~ p.name ~ '@%%h',
            '--concurrency ' ~ sv.celery.concurrency if sv.celery.concurrency else '',
        ],
        'directory': p.root ~ '/current',
        'stopwaitsecs': sv.celery.stop_timeout,
    },
    'celerybeat': {
        'enabled': sv.celery.beat and celery,
        'comment': 'Celery beat: one per fleet (webstack:supervisor:celery:beat)',
        'command': [
            run ~ '/celery --app ' ~ celery ~ ' beat --loglevel INFO',
            '--schedule ' ~ ws.app.shared_dir ~ '/celerybeat-schedule --pidfile=',
        ],
        'directory': p.root ~ '/current',
        'stopwaitsecs': 30,
    },
} %}
{#- What supervisor waits for on this box (its component.yaml `after`: the
    broker's user states). All programs wait: the first one's state adds the
    others with it. #}
{%- set after = ws.after.get('supervisor', []) %}
include:
  - supervisor.install
  - app
{%- for sls in after %}
  - {{ sls }}
{%- endfor %}

{%- set together = [] %}
{%- for kind, prog in programs.items() if prog.enabled %}
{%-   do together.append(p.name ~ '-' ~ kind) %}
{%- endfor %}

{#- Every program config first: programs new to supervisord are then added
    together, by the first state that runs one, and start at once. #}
{%- for kind, prog in programs.items() %}
{%-   set name = p.name ~ '-' ~ kind %}
{%-   set conf = sv.conf_dir ~ '/' ~ name ~ '.conf' %}
{%-   if prog.enabled %}

supervisor-{{ kind }}-program-is-configured:
  file.managed:
    - name: {{ conf }}
    - source: salt://supervisor/files/program.conf.jinja
    - template: jinja
    - context:
        name: {{ name | tojson }}
        comment: {{ prog.comment | tojson }}
        command: {{ prog.command | select | join(' ') | tojson }}
        directory: {{ prog.directory | tojson }}
        stopwaitsecs: {{ prog.stopwaitsecs }}
    - user: root
    - group: root
    - mode: '0644'
    - check_cmd: /usr/local/lib/webstack/check-supervisor-program
    - require:
      - file: supervisor-can-check-program-configs
{%-   else %}

supervisor-{{ kind }}-program-is-absent:
  file.absent:
    - name: {{ conf }}
{%-   endif %}
{%- endfor %}

{%- for kind, prog in programs.items() %}
{%-   set name = p.name ~ '-' ~ kind %}
{%-   if prog.enabled %}

{#- Converges on what runs, not on what changed in this run: a changed config
    is applied to this program only (reread + update); a stopped program is
    started; a process running another virtualenv or environment than the
    live one is restarted (a graceful reload keeps the master's interpreter
    and environment). A new release (the watch) sends gunicorn a HUP (new
    workers from the new release before the old ones go) and restarts
    Celery (a warm shutdown). #}
supervisor-runs-{{ kind }}:
  supervisord.running:
    - name: {{ name }}
{%-     if prog.get('reload_signal') %}
    - reload_signal: {{ prog.reload_signal }}
{%-     endif %}
    - virtualenv: {{ p.root }}/current/.venv
    - env_file: {{ p.root }}/env
    - together: {{ together | tojson }}
    - require:
      - service: supervisor-is-running
      - file: supervisor-{{ kind }}-program-is-configured
{%-     for sls in after %}
      - sls: {{ sls }}
{%-     endfor %}
    - watch:
      - release: app-release-is-live
{%-   else %}

supervisor-does-not-run-{{ kind }}:
  supervisord.absent:
    - name: {{ name }}
    - require:
      - service: supervisor-is-running
      - file: supervisor-{{ kind }}-program-is-absent
{%-   endif %}
{%- endfor %}

{#- supervisord's own parser checks a program config before it lands. #}
supervisor-can-check-program-configs:
  file.managed:
    - name: /usr/local/lib/webstack/check-supervisor-program
    - source: salt://supervisor/files/check-program.py
    - makedirs: true
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - pkg: supervisor-is-installed
