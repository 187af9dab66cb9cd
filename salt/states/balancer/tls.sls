{%- from "map.jinja" import ws with context %}
{%- from "balancer/vars.jinja" import tls, tls_source, tls_dir, tls_files, cert with context %}
{#- The certificate haproxy serves: the pillar's (certificate, chain and key
    in one file, checked by haproxy itself before it lands) or a self-signed
    one for the site's domains (tests, demo), made once and renewed 30 days
    before it expires. #}
include:
  - balancer.install
{%- if tls_source != 'off' %}

balancer-tls-directory-is-private:
  file.directory:
    - name: {{ tls_dir }}
    - user: root
    - group: root
    - mode: '0700'
    - require:
      - pkg: balancer-haproxy-is-installed
{%- endif %}
{%- if tls_source == 'pillar' %}

balancer-certificate-and-key-are-checked-then-installed:
  file.managed:
    - name: {{ cert.crt }}
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
{%- elif tls_source == 'self_signed' %}
  {%- set common_name = salt['balancer.check_host'](ws.project.domains) %}

balancer-self-signed-key-exists:
  x509.private_key_managed:
    - name: {{ cert.key }}
    - algo: ec
    - keysize: 256
    - mode: '0600'
    - require:
      - file: balancer-tls-directory-is-private

balancer-self-signed-certificate-names-the-site:
  x509.certificate_managed:
    - name: {{ cert.crt }}
    - signing_private_key: {{ cert.key }}
    - CN: {{ common_name | json }}
    - subjectAltName: {{ ws.project.domains | map('regex_replace', '^', 'DNS:') | join(', ') | json }}
    - basicConstraints: 'critical, CA:false'
    - days_valid: 365
    - days_remaining: 30
    - mode: '0644'
    - require:
      - x509: balancer-self-signed-key-exists
{%- endif %}
