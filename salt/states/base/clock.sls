{%- from "settings.jinja" import ws with context %}

base-timezone-is-set:
  timezone.system:
    - name: {{ ws.base.timezone }}
    - require:
      - pkg: base-packages-are-installed
