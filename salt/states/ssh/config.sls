{%- from "settings.jinja" import ws with context %}
{#- sshd takes the FIRST value it reads for a setting, and Debian's and
    Ubuntu's sshd_config include sshd_config.d/*.conf at the top, in name
    order: 00-webstack.conf comes before anything a package or cloud-init
    drops there (some clouds' 50-cloud-init.conf allows password login).
    Whether ours really win is checked with `sshd -T` before sshd reloads. #}
include:
  - base.packages

{%- set settings = {
    'Port': ws.ssh.port,
    'PermitRootLogin': 'no',
    'PasswordAuthentication': 'no',
    'KbdInteractiveAuthentication': 'no',
    'PermitEmptyPasswords': 'no',
    'PubkeyAuthentication': 'yes',
    'AuthenticationMethods': 'publickey',
    'AuthorizedKeysFile': '.ssh/authorized_keys',
    'AllowGroups': ([ws.users.group] + ws.ssh.allow_groups) | unique | list,
    'X11Forwarding': 'no',
} %}

{#- sshd -t and -T need it; sshd makes it when it starts, which a socket-
    activated sshd (Ubuntu 24.04) may not have done yet. #}
ssh-privilege-separation-directory-exists:
  file.directory:
    - name: /run/sshd
    - mode: '0755'
    - require:
      - pkg: base-packages-are-installed

ssh-server-config-is-ours:
  file.managed:
    - name: /etc/ssh/sshd_config.d/00-webstack.conf
    - source: salt://ssh/files/sshd.conf.jinja
    - template: jinja
    - context:
        settings: {{ settings | tojson }}
    - mode: '0644'
    # The file alone, as a whole sshd config, before it lands.
    - check_cmd: /usr/sbin/sshd -t -f
    - require:
      - file: ssh-privilege-separation-directory-exists

{#- The whole config as sshd will read it: valid, and our values in effect. #}
ssh-server-settings-are-in-effect:
  webstack_ssh.settings_in_effect:
    - settings: {{ settings | tojson }}
    - require:
      - file: ssh-server-config-is-ours
