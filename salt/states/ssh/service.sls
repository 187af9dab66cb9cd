{%- from "settings.jinja" import ws with context %}
include:
  - ssh.config

{%- if ws.ssh.socket %}

ssh-socket-activation-is-off:
  service.dead:
    - name: {{ ws.ssh.socket }}
    - enable: false
    - require:
      - pkg: base-packages-are-installed

{#- An sshd started from the socket holds the socket's listener: restart it
    once so it listens by itself (open sessions survive: KillMode=process). #}
ssh-server-restarts-without-the-socket:
  cmd.run:
    - name: systemctl restart {{ ws.ssh.service }}
    - onchanges:
      - service: ssh-socket-activation-is-off
    - require:
      - webstack_ssh: ssh-server-settings-are-in-effect
{%- endif %}

ssh-server-is-running:
  service.running:
    - name: {{ ws.ssh.service }}
    - enable: true
    - reload: true
    - require:
      - webstack_ssh: ssh-server-settings-are-in-effect
{%- if ws.ssh.socket %}
      - cmd: ssh-server-restarts-without-the-socket
{%- endif %}
    - watch:
      - file: ssh-server-config-is-ours
      - cmd: ssh-moduli-holds-only-large-groups
{%- if ws.ssh.rsa_key %}
      - cmd: ssh-rsa-host-key-has-{{ ws.ssh.rsa_key.bits }}-bits
{%- endif %}
