{#- memcached and/or redis, as the pillar enables them: on loopback unless
    web or worker hosts use them, memory-capped. #}
include:
  - cache.install
  - cache.memcached
  - cache.redis
