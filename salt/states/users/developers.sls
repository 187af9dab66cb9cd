{%- from "settings.jinja" import ws with context %}
{#- One account per developer in the pillar: ssh keys are the only way in
    (no password is ever set), sudo as the pillar says (users/sudo.sls). #}
users-developers-group-exists:
  group.present:
    - name: {{ ws.users.group }}

users-managed-accounts-group-exists:
  group.present:
    - name: {{ ws.users.managed_group }}
    - system: true

{%- for name, dev in ws.users.developers | dictsort %}
{%-   if name in (ws.project.user, ws.users.group, ws.users.managed_group) %}
{{ raise('webstack:users:developers:' ~ name ~ ': clashes with the project user or a group the users component manages') }}
{%-   endif %}
{%-   set home = '/home/' ~ name %}

users-developer-{{ name }}-has-an-account:
  user.present:
    - name: {{ name }}
{%-   if dev.get('fullname') %}
    - fullname: {{ dev.fullname | tojson }}
{%-   endif %}
{%-   if dev.get('uid') %}
    - uid: {{ dev.uid }}
{%-   endif %}
    - home: {{ home }}
    - shell: {{ dev.get('shell', '/bin/bash') }}
    - groups: {{ ([ws.users.group, ws.users.managed_group] + dev.get('groups', [])) | tojson }}
    - remove_groups: true
    # Undoes the lock of users/former.sls when someone comes back.
    - expire: -1
    - require:
      - group: users-developers-group-exists
      - group: users-managed-accounts-group-exists

users-developer-{{ name }}-has-exactly-the-pillar-ssh-keys:
  file.managed:
    - name: {{ home }}/.ssh/authorized_keys
    - contents: {{ dev.get('ssh_keys', []) | join('\n') | tojson }}
    - user: {{ name }}
    - group: {{ name }}
    - mode: '0600'
    - makedirs: true
    - dir_mode: '0700'
    - require:
      - user: users-developer-{{ name }}-has-an-account
{%- endfor %}
