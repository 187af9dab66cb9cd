{%- from "settings.jinja" import ws with context %}

base-locale-is-generated:
  locale.present:
    - name: {{ ws.base.locale }}
    - require:
      - pkg: base-packages-are-installed

base-locale-is-the-system-default:
  locale.system:
    - name: {{ ws.base.locale }}
    - require:
      - locale: base-locale-is-generated
