{%- from "map.jinja" import ws with context %}

app-python-venv-and-git-are-installed:
  pkg.installed:
    - pkgs: {{ ws.app.packages | tojson }}
