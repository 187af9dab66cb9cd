{%- from "settings.jinja" import ws with context %}
{#- A container's host name is set from outside (docker run --hostname) and
    can't change inside; its runtime also writes /etc/hosts, naming the box,
    at every start (an entry of ours would be gone after a restart). #}
{%- set container = grains.get('virtual') == 'container' %}
{%- set settable = ws.base.hostname and not container %}
{%- if settable %}
{%-   set fqdn = ws.base.hostname %}
{%- else %}
{%-   set host = grains.get('host') or 'localhost' %}
{%-   set fqdn = grains['fqdn'] if (grains.get('fqdn') or '').startswith(host ~ '.') else host %}
{%- endif %}
{%- set short = fqdn.split('.')[0] %}

{#- Debian's convention: the box's own names on 127.0.1.1, the fully
    qualified name first, so `hostname -f` (and sudo) answer without DNS.
    In place before the name changes. #}
{%- if not container %}
base-hosts-file-names-this-box:
  host.present:
    - ip: 127.0.1.1
    - names: {{ ([fqdn, short] if fqdn != short else [short]) | tojson }}
{%- endif %}
{%- if settable %}

base-hostname-is-set:
  cmd.run:
    - name: hostnamectl set-hostname {{ short }}
    - unless: test "$(cat /etc/hostname)" = {{ short }} && test "$(hostname)" = {{ short }}
    - require:
      - host: base-hosts-file-names-this-box

{#- Else cloud-init puts the image's name back at the next boot. #}
base-hostname-is-kept-by-cloud-init:
  file.managed:
    - name: /etc/cloud/cloud.cfg.d/99-webstack-hostname.cfg
    - contents: |
        # Managed by Salt (webstack base role): the host name and /etc/hosts are Salt's.
        preserve_hostname: true
        manage_etc_hosts: false
    - onlyif: test -d /etc/cloud/cloud.cfg.d
{%- endif %}
