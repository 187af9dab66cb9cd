{%- from "map.jinja" import ws with context %}
{#- One apt run for the base set, the site's extras and what the other common
    roles need (they include this file and require it), so a new box pays
    for one `apt-get update` and one dpkg transaction. #}
{%- set pkgs = ws.base.system_packages + ws.base.packages %}
{%- for state in ('users', 'ssh') if state in ws.states %}
{%-   do pkgs.extend(ws[state].packages) %}
{%- endfor %}

base-packages-are-installed:
  pkg.installed:
    - pkgs: {{ pkgs | unique | list | tojson }}
    # Salt refreshes the package lists only when something is missing.
    - refresh: true
    # What we need is listed: a smaller box, a faster first run.
    - install_recommends: false
