{%- from "settings.jinja" import ws with context %}

app-python-venv-and-git-are-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['app']) | tojson }}
