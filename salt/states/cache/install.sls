{%- from "settings.jinja" import ws with context %}
{%- set pkgs = salt['webstack_pkg.packages'](ws, ['cache']) %}
{%- if pkgs %}
{#- One apt transaction for the caches enabled. #}
cache-packages-are-installed:
  pkg.installed:
    - pkgs: {{ pkgs|tojson }}
{%- endif %}
