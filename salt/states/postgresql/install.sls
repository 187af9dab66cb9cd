{%- from "settings.jinja" import ws with context %}
{#- The package creates the cluster (postgresql-common) and starts it, but
    where base installed it (daemons held back): postgresql.service starts
    it then, with our settings. #}
postgresql-server-is-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['postgresql']) | tojson }}
{%- if ws.postgresql.get("kept_cluster") %}

{#- The box runs a cluster of another major than the one asked: it is kept
    (postgresql_major.settle), and the run says so. #}
postgresql-keeps-the-cluster-this-box-runs:
  test.show_notification:
    - text: {{ ws.postgresql.kept_cluster | tojson }}
    - require_in:
      - pkg: postgresql-server-is-installed
{%- endif %}
