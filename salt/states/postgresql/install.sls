{%- from "settings.jinja" import ws with context %}
{#- The package creates the cluster (postgresql-common) and starts it, but
    where base installed it (daemons held back): postgresql.service starts
    it then, with our settings. #}
postgresql-server-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['postgresql']) | tojson }}
