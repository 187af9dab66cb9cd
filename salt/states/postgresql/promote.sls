{#- Promote a replica to primary, through the master (an orchestration):

      salt-run state.orchestrate postgresql.promote pillar='{"replica": "<minion id>"}'

    1. The old primary is fenced where it answers (postgresql_replica.fence:
       PostgreSQL stopped, its fleet role db dropped). Where it doesn't
       answer (the usual case: it is down), that step fails and the master
       forgets its cached grains and mine instead: nothing finds it as the
       primary. Its own fence keeps it from starting as one when it is back.
    2. The replica is promoted (postgresql_replica.promote).
    3. The new primary, the app hosts and the other replicas are re-applied:
       DATABASE_URL points at the new primary, replicas follow it.
    Fleet roles as postgresql/component.yaml names them. #}
{%- import_yaml "postgresql/component.yaml" as pg %}
{%- set replica = pillar["replica"] %}
{%- set primary_role, standby_role = pg.host_role, pg.role_settings.standby %}
{%- set cached = salt["saltutil.runner"]("cache.grains", tgt="roles:" ~ primary_role, tgt_type="grain") %}
{%- set old = cached | list | reject("equalto", replica) | list %}
{%- if old %}

the-old-primary-is-fenced-where-it-answers:
  salt.function:
    - name: postgresql_replica.fence
    - tgt: {{ old | join(",") }}
    - tgt_type: list
    - timeout: 15

the-old-primary-is-forgotten-where-it-does-not-answer:
  salt.runner:
    - name: cache.clear_all
    - tgt: {{ old | join(",") }}
    - tgt_type: list
    - onfail:
      - salt: the-old-primary-is-fenced-where-it-answers
{%- endif %}

the-replica-is-promoted:
  salt.function:
    - name: postgresql_replica.promote
    - tgt: {{ replica }}
{%- if old %}
    - require_any:
      - salt: the-old-primary-is-fenced-where-it-answers
      - salt: the-old-primary-is-forgotten-where-it-does-not-answer
{%- endif %}

the-app-hosts-and-replicas-follow-the-new-primary:
  salt.state:
    - tgt: "L@{{ replica }} or G@roles:web or G@roles:worker or G@roles:{{ standby_role }}"
    - tgt_type: compound
    - highstate: true
    - require:
      - salt: the-replica-is-promoted
