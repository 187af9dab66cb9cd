{%- from "map.jinja" import ws with context %}
{%- set p = ws.project %}
{#- Derived settings, then the pillar's env, then its secrets (the state
    merges those last, and never shows a value). #}
{%- set env = {
    'ALLOWED_HOSTS': (p.domains + ['localhost']) | join(','),
    'DATABASE_URL': ws.urls.database,
    'CELERY_BROKER_URL': ws.urls.broker,
    'STATIC_ROOT': p.root ~ '/shared/static',
    'MEDIA_ROOT': p.root ~ '/shared/media',
    'LOG_DIR': p.root ~ '/shared/log',
} %}
{%- do env.update(ws.app.env) %}
include:
  - app.layout

app-environment-holds-settings-and-secrets:
  envfile.managed:
    - name: {{ p.root }}/env
    - values: {{ env | tojson }}
    - secrets: {{ ws.app.secrets | tojson }}
    - generate: [SECRET_KEY]
    - user: root
    - group: {{ p.group }}
    - mode: '0640'
    - require:
      - file: users-project-root-belongs-to-the-project-user

{#- bin/with-env starts the app's processes with that environment (supervisor
    and the release checks use it); bin/manage is manage.py of the live
    release for people: `sudo {{ p.root }}/bin/manage shell`. #}
app-commands-run-with-the-environment:
  file.managed:
    - names:
      - {{ p.root }}/bin/with-env:
        - source: salt://app/files/with-env.sh.jinja
      - {{ p.root }}/bin/manage:
        - source: salt://app/files/manage.sh.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0755'
    - check_cmd: sh -n
    - require:
      - file: app-code-directories-belong-to-root
