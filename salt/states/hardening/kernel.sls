{%- from "settings.jinja" import ws with context %}
{#- The kernel parameters for every boot (systemd-sysctl reads
    /etc/sysctl.d, ours after the packages' 50-*), then in the running
    kernel where this box may set them: a container's are read-only, and
    the state says which ones rather than failing. #}
{#- A null in the pillar drops a default: the file and the state skip it. #}
{%- set wanted = ws.hardening.sysctl %}

hardening-kernel-parameters-are-set-for-every-boot:
  file.managed:
    - name: /etc/sysctl.d/60-webstack-hardening.conf
    - source: salt://hardening/files/sysctl.conf.jinja
    - template: jinja
    - context:
        wanted: {{ wanted | tojson }}
    - user: root
    - group: root
    - mode: '0644'

hardening-kernel-parameters-are-in-effect-where-this-box-may-set-them:
  webstack_sysctl.running:
    - settings: {{ wanted | tojson }}
    - require:
      - file: hardening-kernel-parameters-are-set-for-every-boot
