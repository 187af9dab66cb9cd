{%- from "settings.jinja" import ws with context %}
{#- People's sessions: a umask that keeps their new files from others, and
    no core dumps (a dump holds whatever the process held: keys, passwords). #}
{%- set h = ws.hardening %}
{%- if h.umask %}

{#- Read by pam_umask (Ubuntu's common-session; Debian 12 has none) and by
    useradd for new home directories. #}
hardening-login-defs-umask-is-set:
  file.replace:
    - name: /etc/login.defs
    - pattern: '^UMASK\s.*$'
    - repl: "UMASK\t\t{{ h.umask }}"
    - append_if_not_found: true

{#- What takes effect for an ssh login on every release: login shells read
    /etc/profile.d after PAM. Only for people (UID_MIN up), not root: what an
    operator's `sudo -i salt-call` creates stays as our states expect. #}
hardening-login-shells-of-people-get-the-umask:
  file.managed:
    - name: /etc/profile.d/webstack-umask.sh
    - contents: |
        # Managed by Salt (webstack hardening role): pillar webstack:hardening:umask.
        if [ "$(id -u)" -ge 1000 ]; then umask {{ h.umask }}; fi
    - user: root
    - group: root
    - mode: '0644'
{%- else %}

hardening-login-shells-of-people-get-the-umask:
  file.absent:
    - name: /etc/profile.d/webstack-umask.sh
{%- endif %}
{%- if not h.core_dumps %}

{#- pam_limits (ssh, su, login): `*` is everyone but root, so root too. #}
hardening-core-dumps-are-off-for-sessions:
  file.managed:
    - name: /etc/security/limits.d/webstack-hardening.conf
    - contents: |
        # Managed by Salt (webstack hardening role): no core dumps (pillar webstack:hardening:core_dumps).
        *     soft  core  0
        *     hard  core  0
        root  soft  core  0
        root  hard  core  0
    - user: root
    - group: root
    - mode: '0644'

{#- Where systemd-coredump is installed, it keeps none of what the kernel
    hands it (services' crashes included). #}
hardening-core-dumps-are-not-kept-by-systemd:
  file.managed:
    - name: /etc/systemd/coredump.conf.d/webstack-hardening.conf
    - makedirs: true
    - contents: |
        # Managed by Salt (webstack hardening role): no core dumps (pillar webstack:hardening:core_dumps).
        [Coredump]
        Storage=none
        ProcessSizeMax=0
    - user: root
    - group: root
    - mode: '0644'
{%- else %}

hardening-core-dumps-are-off-for-sessions:
  file.absent:
    - name: /etc/security/limits.d/webstack-hardening.conf

hardening-core-dumps-are-not-kept-by-systemd:
  file.absent:
    - name: /etc/systemd/coredump.conf.d/webstack-hardening.conf
{%- endif %}
