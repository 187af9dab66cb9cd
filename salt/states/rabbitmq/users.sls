{%- from "settings.jinja" import ws with context %}
{%- set mq = ws.rabbitmq %}
include:
  - rabbitmq.service
{%- if opts['test'] and not salt['cmd.which']('rabbitmqctl') %}

{#- A dry run on a new box: Salt's rabbitmq states load only once
    rabbitmqctl is installed. Say what the real run does. #}
rabbitmq-app-vhost-and-user-come-with-the-server:
  test.configurable_test_state:
    - name: {{ mq.user }}
    - changes: true
    - result: true
    - comment: >-
        The vhost {{ mq.vhost }} and its user {{ mq.user }} would be
        created, and guest removed, once RabbitMQ is installed.
{%- else %}

{#- Each rabbitmqctl call starts an Erlang VM (about 0.35 s): these states
    run in their own processes (parallel), beside the rest of the run;
    Salt still runs each after its requisites, and the supervisor role waits
    for them before Celery starts. #}
rabbitmq-app-vhost-exists:
  rabbitmq_vhost.present:
    - name: {{ mq.vhost|tojson }}
    - parallel: true
    - require:
      - service: rabbitmq-server-is-running

{#- No password here: Salt's rabbitmq_user puts it on rabbitmqctl's command
    line (ps, the journal) on every run. The next state sets it through
    rabbitmqctl's standard input. #}
rabbitmq-app-user-has-its-vhost-only:
  rabbitmq_user.present:
    - name: {{ mq.user|tojson }}
    - parallel: true
    - perms:
      - {{ mq.vhost|tojson }}: [".*", ".*", ".*"]
    - require:
      - rabbitmq_vhost: rabbitmq-app-vhost-exists

rabbitmq-app-user-logs-in-with-its-password:
  rabbitmq_password.managed:
    - name: {{ mq.user|tojson }}
    - parallel: true
    - password: {{ mq.password|tojson }}
    - require:
      - rabbitmq_user: rabbitmq-app-user-has-its-vhost-only

{#- The package's default user (guest/guest, administrator). #}
rabbitmq-guest-user-is-removed:
  rabbitmq_user.absent:
    - name: guest
    - parallel: true
    - require:
      - service: rabbitmq-server-is-running
{%- endif %}
