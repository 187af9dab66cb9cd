{%- from "settings.jinja" import ws with context %}
{%- set mq = ws.rabbitmq %}
{#- A dry run on a new box: Salt's rabbitmq states load only once
    rabbitmqctl is installed. Each state says, under its own ID, what the
    real run does. #}
{%- set before_server = opts['test'] and not salt['cmd.which']('rabbitmqctl') %}
include:
  - rabbitmq.service

{#- Each rabbitmqctl call starts an Erlang VM (about 0.35 s): these states
    run in their own processes (parallel), beside the rest of the run;
    Salt still runs each after its requisites, and the supervisor role waits
    for them before Celery starts. #}
rabbitmq-app-vhost-exists:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The vhost {{ mq.vhost }} would be created once RabbitMQ is installed.
{%- else %}
  rabbitmq_vhost.present:
    - parallel: true
{%- endif %}
    - name: {{ mq.vhost|tojson }}
    - require:
      - service: rabbitmq-server-is-running

{#- No password here: Salt's rabbitmq_user puts it on rabbitmqctl's command
    line (ps, the journal) on every run. The next state sets it through
    rabbitmqctl's standard input. #}
rabbitmq-app-user-has-its-vhost-only:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The user {{ mq.user }} would be created with rights on {{ mq.vhost }} only once RabbitMQ is installed.
{%- else %}
  rabbitmq_user.present:
    - parallel: true
    - perms:
      - {{ mq.vhost|tojson }}: [".*", ".*", ".*"]
{%- endif %}
    - name: {{ mq.user|tojson }}
    - require:
      - id: rabbitmq-app-vhost-exists

rabbitmq-app-user-logs-in-with-its-password:
  rabbitmq_password.managed:
    - name: {{ mq.user|tojson }}
    - parallel: true
    - password: {{ mq.password|tojson }}
    - require:
      - id: rabbitmq-app-user-has-its-vhost-only

{#- The package's default user (guest/guest, administrator). #}
rabbitmq-guest-user-is-removed:
{%- if before_server %}
  test.configurable_test_state:
    - changes: true
    - comment: The package's guest user would be removed once RabbitMQ is installed.
{%- else %}
  rabbitmq_user.absent:
    - parallel: true
{%- endif %}
    - name: guest
    - require:
      - service: rabbitmq-server-is-running
