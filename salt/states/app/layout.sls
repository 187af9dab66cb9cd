{%- from "settings.jinja" import ws with context %}
{%- set p = ws.project %}
{#- The project user and its root come from the users component. #}
include:
  - users.project

{#- Code and virtualenvs belong to root: the app can't rewrite itself. #}
app-code-directories-belong-to-root:
  file.directory:
    - names:
      - {{ p.root }}/releases
      - {{ p.root }}/venvs
      - {{ p.root }}/bin
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - file: users-project-root-belongs-to-the-project-user

{#- What the app writes. Readable by all: nginx serves static/ and media/. #}
app-shared-directories-belong-to-the-project-user:
  file.directory:
    - names:
      - {{ ws.app.shared_dir }}
      - {{ ws.app.shared_dir }}/static
      - {{ ws.app.shared_dir }}/media
      - {{ ws.app.shared_dir }}/log
    - user: {{ p.user }}
    - group: {{ p.group }}
    - mode: '0755'
    - require:
      - file: users-project-root-belongs-to-the-project-user

{#- The run directory (/run/<name>) holds gunicorn's socket. The directory is the gate: only
    the project user and www-data (nginx) get in; the socket inside is open
    to whoever reaches it (gunicorn --umask 000: gunicorn gives the socket
    its own group, so the socket's mode can't be the gate). #}
app-runtime-directory-is-made-at-boot:
  file.managed:
    - name: /etc/tmpfiles.d/{{ p.name }}.conf
    - contents: |
        # Managed by Salt (webstack app role): gunicorn's socket lives here.
        d {{ ws.app.run_dir }} 0750 {{ p.user }} www-data -
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - user: users-project-user-exists

app-runtime-directory-exists:
  file.directory:
    - name: {{ ws.app.run_dir }}
    - user: {{ p.user }}
    - group: www-data
    - mode: '0750'
    - require:
      - file: app-runtime-directory-is-made-at-boot
