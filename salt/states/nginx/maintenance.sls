{%- from "settings.jinja" import ws with context %}
{%- set maintenance = salt['maintenance.layout'](ws) %}
{#- webstack:nginx:maintenance:enabled, through the flag file nginx tests on
    each request (no reload); a command's maintenance (`maintenance.on`) stays
    until `maintenance.off`. #}
nginx-maintenance-mode-is-as-the-pillar-says:
  maintenance.as_pillar_says:
    - name: {{ maintenance.flag }}
    - enabled: {{ maintenance.enabled | tojson }}
    - require:
      - service: nginx-runs-and-reloads-on-changes
