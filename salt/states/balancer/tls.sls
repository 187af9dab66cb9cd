{%- from "settings.jinja" import ws with context %}
{%- from "tls.jinja" import tls_states with context %}
{%- set tls = ws.balancer.tls %}
{#- The certificate haproxy serves: the pillar's (certificate, chain and key
    in one file, checked by haproxy itself before it lands) or a self-signed
    one (tls.jinja). #}
include:
  - balancer.install
{{ tls_states('balancer', tls, 'pkg', 'balancer-haproxy-is-installed') }}
{%- if tls.source == 'pillar' %}

balancer-certificate-and-key-are-checked-then-installed:
  file.managed:
    - name: {{ tls.paths.cert }}
    - contents: {{ ([tls.certificate, tls.chain or '', tls.key] | map('trim') | select | join('\n') ~ '\n') | json }}
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: false
    # haproxy loads the bundle as it would for the site: a key that is bad,
    # encrypted or not the certificate's stops it here.
    - check_cmd: >-
        sh -c 'printf "frontend check\n  mode http\n  bind 127.0.0.1:9 ssl crt %s\n" "$1"
        | haproxy -c -f /dev/stdin' check
    - require:
      - file: balancer-tls-directory-is-private
{%- endif %}
