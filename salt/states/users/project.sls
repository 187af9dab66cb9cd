{%- from "settings.jinja" import ws with context %}
{%- set p = ws.project %}

users-project-group-exists:
  group.present:
    - name: {{ p.group }}
    - system: true

{#- A system account without a login: the app runs as it; its home is the
    project root, created below without /etc/skel's dotfiles. #}
users-project-user-exists:
  user.present:
    - name: {{ p.user }}
    - gid: {{ p.group }}
    - home: {{ p.root }}
    - createhome: false
    - shell: {{ ws.users.project_shell }}
    - system: true
    - fullname: {{ p.name }} app
    - require:
      - group: users-project-group-exists

{#- Readable by all: other components (nginx's static files) traverse it; what is
    secret below it is closed by the role that writes it. #}
users-project-root-belongs-to-the-project-user:
  file.directory:
    - name: {{ p.root }}
    - user: {{ p.user }}
    - group: {{ p.group }}
    - mode: '0755'
    - makedirs: true
    - require:
      - user: users-project-user-exists
