{%- from "map.jinja" import ws with context %}
{%- from "nginx/vars.jinja" import tls_source, server_names, conf_dir, cert with context %}
{#- Certificates from the pillar are files of nginx-config-is-checked-then-installed;
    a self-signed one (tests, demo) is made here, once, and renewed 30 days
    before it expires. #}
{%- if tls_source != 'off' %}
nginx-tls-directory-is-private:
  file.directory:
    - name: {{ conf_dir }}/tls
    - user: root
    - group: root
    - mode: '0700'
    - require:
      - pkg: nginx-package-is-installed
{%- endif %}
{%- if tls_source == 'self_signed' %}

nginx-self-signed-key-exists:
  x509.private_key_managed:
    - name: {{ conf_dir }}/{{ cert.key }}
    - algo: ec
    - keysize: 256
    - mode: '0600'
    - require:
      - file: nginx-tls-directory-is-private

nginx-self-signed-certificate-names-the-site:
  x509.certificate_managed:
    - name: {{ conf_dir }}/{{ cert.cert }}
    - signing_private_key: {{ conf_dir }}/{{ cert.key }}
    - CN: {{ server_names[0] | json }}
    - subjectAltName: {{ server_names | map('regex_replace', '^', 'DNS:') | join(', ') | json }}
    - basicConstraints: 'critical, CA:false'
    - days_valid: 365
    - days_remaining: 30
    - mode: '0644'
    - require:
      - x509: nginx-self-signed-key-exists
{%- endif %}
