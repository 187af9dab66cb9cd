{%- from "settings.jinja" import ws with context %}
{%- set cache = ws.cache %}
{%- set rd = cache.redis %}
include:
  - cache.install
{%- if rd.enabled %}
{%-   if cache.client_addresses and not rd.password %}
{{ raise('webstack:cache:redis:password: is required when other hosts use redis (clients: ' ~ cache.client_addresses|join(', ') ~ ')') }}
{%-   endif %}

{#- The whole file: small, and the same keys on every release's redis. It
    holds the password, so only redis reads it. #}
cache-redis-listens-where-its-clients-are:
  file.managed:
    - name: {{ rd.config }}
    - source: salt://cache/files/redis.conf.jinja
    - template: jinja
    - context:
        rd: {{ rd|tojson }}
        listen_addresses: {{ cache.listen_addresses|tojson }}
    - user: {{ rd.user }}
    - group: {{ rd.user }}
    - mode: "0640"
    - require:
      - pkg: cache-packages-are-installed

cache-redis-is-running:
  service.running:
    - name: {{ rd.service }}
    - enable: true
    - watch:
      - file: cache-redis-listens-where-its-clients-are
{%- else %}
cache-redis-is-stopped:
  service.dead:
    - name: {{ rd.service }}
    - enable: false
    # Only where it is installed: test=True would otherwise predict a stop
    # of a service that is not there.
    - onlyif: systemctl cat {{ rd.service }}.service
{%- endif %}
