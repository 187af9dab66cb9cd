{%- from "settings.jinja" import ws with context %}
{#- sshd takes the FIRST value it reads for a setting, and Debian's and
    Ubuntu's sshd_config include sshd_config.d/*.conf at the top, in name
    order: 00-webstack.conf comes before anything a package or cloud-init
    drops there (some clouds' 50-cloud-init.conf allows password login).
    Whether ours really win is checked with `sshd -T` before sshd reloads. #}
include:
  - base.packages

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
        lines: {{ ws.ssh.lines | tojson }}
    - mode: '0644'
    # The file alone, as a whole sshd config, before it lands.
    - check_cmd: /usr/sbin/sshd -t -f
    - require:
      - file: ssh-privilege-separation-directory-exists
      - cmd: ssh-moduli-holds-only-large-groups
{%- if ws.ssh.rsa_key %}
      - cmd: ssh-rsa-host-key-has-{{ ws.ssh.rsa_key.bits }}-bits
{%- endif %}

{#- Diffie-Hellman group exchange picks from this file: the package's, less
    the groups under dh_min_bits (ssh-audit fails a server offering them). #}
ssh-moduli-holds-only-large-groups:
  cmd.run:
    - name: >-
        awk '/^#/ || $5 >= {{ ws.ssh.moduli.min_size }}' {{ ws.ssh.moduli.source }}
        > {{ ws.ssh.moduli.file }}.new && chmod 0644 {{ ws.ssh.moduli.file }}.new
        && mv {{ ws.ssh.moduli.file }}.new {{ ws.ssh.moduli.file }}
    - unless: >-
        awk '/^#/ || $5 >= {{ ws.ssh.moduli.min_size }}' {{ ws.ssh.moduli.source }}
        | cmp -s - {{ ws.ssh.moduli.file }}
    - require:
      - pkg: base-packages-are-installed
{%- if ws.ssh.rsa_key %}

{#- The package made a 3072-bit key; the hardening guides want rsa_bits. #}
ssh-rsa-host-key-has-{{ ws.ssh.rsa_key.bits }}-bits:
  cmd.run:
    - name: >-
        rm -f {{ ws.ssh.rsa_key.file }} {{ ws.ssh.rsa_key.file }}.pub
        && ssh-keygen -q -t rsa -b {{ ws.ssh.rsa_key.bits }} -N '' -f {{ ws.ssh.rsa_key.file }}
    - unless: ssh-keygen -l -f {{ ws.ssh.rsa_key.file }}.pub | grep -q '^{{ ws.ssh.rsa_key.bits }} '
    - require:
      - pkg: base-packages-are-installed
{%- endif %}

{#- The whole config as sshd will read it: valid, and our values in effect. #}
ssh-server-settings-are-in-effect:
  webstack_ssh.settings_in_effect:
    - settings: {{ ws.ssh.sshd | tojson }}
    - require:
      - file: ssh-server-config-is-ours
