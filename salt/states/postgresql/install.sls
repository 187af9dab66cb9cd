{%- from "map.jinja" import ws with context %}
{%- from "postgresql/map.jinja" import pg with context %}
{#- The package creates and starts the cluster (postgresql-common). #}
postgresql-server-is-installed:
  pkg.installed:
    - pkgs: {{ pg.packages|tojson }}
