{%- from "map.jinja" import ws with context %}
{%- from "cache/map.jinja" import cache with context %}
{%- set pkgs = [] %}
{%- for name in ('memcached', 'redis') if cache[name].enabled %}
{%-   do pkgs.append(cache[name].package) %}
{%- endfor %}
{%- if pkgs %}
{#- One apt transaction for the caches enabled. #}
cache-packages-are-installed:
  pkg.installed:
    - pkgs: {{ pkgs|tojson }}
{%- endif %}
