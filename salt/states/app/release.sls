{%- from "settings.jinja" import ws with context %}
{%- set p = ws.project %}
{%- set app = ws.app %}
include:
  - app.install
  - app.layout
  - app.env

{#- A changed source (another commit, or changed files for a local path)
    becomes a new release under releases/: virtualenv (reused when the
    requirements are unchanged: no pip), migrate and collectstatic, then
    gunicorn on a socket of its own must answer the health check before
    `current` switches to it. A failure leaves the live release as it was
    and fails here, naming the step. Unchanged source: nothing runs.
    In a process of its own (parallel): the states after it that don't
    need it (RabbitMQ's first start, on an all-in-one box) run meanwhile;
    supervisor's programs watch it, so they wait for it. #}
app-release-is-live:
  release.deployed:
    - name: {{ p.root }}
    - parallel: true
{%- if app.source.git %}
    - git: {{ app.source.git | tojson }}
    - ref: {{ app.source.ref | tojson }}
{%- endif %}
{%- if app.source.path %}
    - path: {{ app.source.path | tojson }}
{%- endif %}
    - user: {{ p.user }}
    - group: {{ p.group }}
    - python: {{ app.python }}
    - requirements: {{ app.requirements | tojson }}
    - env_file: {{ p.root }}/env
    - app_module: {{ app.app_module | tojson }}
    - worker_class: {{ app.worker_class | tojson }}
    - migrate: {{ app.django.migrate }}
    - collectstatic: {{ app.django.collectstatic }}
    - manage: {{ app.django.manage | tojson }}
    - health_check: {{ app.health_check | tojson }}
    - health_host: {{ p.hosts | first }}
    - health_timeout: {{ app.health_timeout }}
    - socket_dir: {{ app.run_dir }}
    - keep: {{ app.keep_releases }}
    - require:
      - pkg: app-python-venv-and-git-are-installed
      - file: app-code-directories-belong-to-root
      - file: app-shared-directories-belong-to-the-project-user
      - file: app-runtime-directory-exists
      - envfile: app-environment-holds-settings-and-secrets
