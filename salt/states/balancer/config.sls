{%- from "settings.jinja" import ws with context %}
{%- set tls = ws.balancer.tls %}
include:
  - balancer.install
  - balancer.tls

# The whole of haproxy.cfg: the web hosts come from the mine at render time,
# so a new web minion joins at the balancer's next highstate.
balancer-config-is-checked-then-installed:
  file.managed:
    - name: /etc/haproxy/haproxy.cfg
    - source: salt://balancer/files/haproxy.cfg.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - check_cmd: haproxy -c -f
    - require:
      - pkg: balancer-haproxy-is-installed
{%- if tls.source == 'pillar' %}
      - file: balancer-certificate-and-key-are-checked-then-installed
{%- elif tls.source in ('self_signed', 'acme') %}
      - x509: balancer-self-signed-certificate-names-the-site
{%- endif %}
{#- Certificates and keys of a TLS source no longer in use, once haproxy.cfg
    stopped naming them. #}
{%- for path in tls.unused_paths %}

balancer-unused-tls-file-{{ path }}-is-removed:
  file.absent:
    - name: {{ path }}
    - require:
      - file: balancer-config-is-checked-then-installed
{%- endfor %}
