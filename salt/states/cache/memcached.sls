{%- from "settings.jinja" import ws with context %}
{%- set cache = ws.cache %}
{%- set mc = cache.memcached %}
include:
  - cache.install
{%- if mc.enabled %}

{#- memcached has no config check; every value here passed the schema. #}
cache-memcached-listens-where-its-clients-are:
  file.managed:
    - name: {{ mc.config }}
    - source: salt://cache/files/memcached.conf.jinja
    - template: jinja
    - context:
        mc: {{ mc|tojson }}
        listen_addresses: {{ cache.listen_addresses|tojson }}
    - mode: "0644"
    - require:
      - pkg: cache-packages-are-installed

cache-memcached-is-running:
  service.running:
    - name: {{ mc.service }}
    - enable: true
    - watch:
      - file: cache-memcached-listens-where-its-clients-are
{%- else %}
{#- Disabled: stopped and off at boot if it was installed, kept otherwise. #}
cache-memcached-is-stopped:
  service.dead:
    - name: {{ mc.service }}
    - enable: false
    # Only where it is installed: test=True would otherwise predict a stop
    # of a service that is not there.
    - onlyif: systemctl cat {{ mc.service }}.service
{%- endif %}
