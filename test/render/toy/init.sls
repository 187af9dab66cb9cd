{%- from "settings.jinja" import ws with context %}
{%- set toy = ws.toy %}
{#- A no-op after base.component_packages, which installs it with the others. #}
toy-server-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['toy']) | tojson }}

toy-listens-where-its-clients-are:
  file.managed:
    - name: /etc/toy.conf
    - contents: |
        listen {{ toy.listen_addresses | join(' ') }}:{{ toy.port }}
        allow {{ toy.client_addresses | join(' ') }}
    - require:
      - pkg: toy-server-is-installed
