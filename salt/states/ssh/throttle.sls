{%- from "settings.jinja" import ws with context %}
{%- set throttle = ws.ssh.throttle %}
{%- set unit_file = '/etc/systemd/system/' ~ throttle.unit ~ '.service' %}
include:
  - base.packages

{%- if throttle.enabled %}

ssh-throttle-rules-are-written:
  file.managed:
    - name: {{ throttle.rules }}
    - source: salt://ssh/files/throttle.nft.jinja
    - template: jinja
    - context:
        port: {{ ws.ssh.port }}
        throttle: {{ throttle | tojson }}
    - makedirs: true
    - mode: '0644'
    # Parsed by nft (not loaded) before it lands.
    - check_cmd: /usr/sbin/nft -c -f
    - require:
      - pkg: base-packages-are-installed

ssh-throttle-unit-is-installed:
  file.managed:
    - name: {{ unit_file }}
    - source: salt://ssh/files/throttle.service.jinja
    - template: jinja
    - context:
        throttle: {{ throttle | tojson }}
    - mode: '0644'

ssh-throttle-is-loaded:
  service.running:
    - name: {{ throttle.unit }}
    - enable: true
    - watch:
      - file: ssh-throttle-rules-are-written
      - file: ssh-throttle-unit-is-installed
{%- else %}

ssh-throttle-is-unloaded:
  service.dead:
    - name: {{ throttle.unit }}
    - enable: false

ssh-throttle-files-are-absent:
  file.absent:
    - names:
      - {{ throttle.rules }}
      - {{ unit_file }}
    - require:
      - service: ssh-throttle-is-unloaded
{%- endif %}
