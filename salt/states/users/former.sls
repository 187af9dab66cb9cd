{%- from "settings.jinja" import ws with context %}
{#- Developers removed from the pillar: still in the managed-accounts group,
    no longer listed. Their accounts are locked, not deleted:
    - a deleted account's uid is handed to the next new account, which then
      owns whatever the old one left (files in the project, crontabs, mail);
    - the home directory and the account stay for an audit (`last`, file
      ownership) and for handing work over;
    - userdel fails while the person still has processes running;
    - a lock is undone by listing the person again.
    Locked means: account expired (PAM refuses every login and sudo, keys
    included), no ssh keys, out of every group (and so out of sshd's
    AllowGroups), no login shell, password locked, running processes ended. #}
{%- set managed = salt['group.info'](ws.users.managed_group).get('members', []) %}
{%- for name in managed | sort if name not in ws.users.developers %}
{%-   set home = salt['user.info'](name).get('home') %}
{%-   if home %}  {#- else deleted by hand since: nothing left to lock #}

users-former-developer-{{ name }}-is-locked:
  user.present:
    - name: {{ name }}
    - createhome: false
    - groups: [{{ ws.users.managed_group }}]
    - remove_groups: true
    - shell: /usr/sbin/nologin
    - expire: 1
    - password_lock: true

users-former-developer-{{ name }}-has-no-ssh-keys:
  file.absent:
    - name: {{ home }}/.ssh/authorized_keys

users-former-developer-{{ name }}-has-no-processes-left:
  cmd.run:
    - name: pkill -KILL -u {{ name }}
    # pkill: 1 is "no process matched".
    - success_retcodes: [1]
    - onchanges:
      - user: users-former-developer-{{ name }}-is-locked
{%-   endif %}
{%- endfor %}
