{%- from "settings.jinja" import ws with context %}
{%- set p = ws.project %}
{#- What the components export (their component.yaml `env` and `urls`:
    DATABASE_URL, CELERY_BROKER_URL, STATIC_ROOT, ...), then the pillar's
    env, then its secrets (the state merges those last, and never shows a
    value). #}
{%- set env = dict(ws.exports) %}
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
