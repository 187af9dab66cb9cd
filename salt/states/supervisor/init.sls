{#- supervisord from the release, running the app's processes: gunicorn on
    web boxes, the Celery worker on worker boxes, Celery beat where asked. #}
include:
  - supervisor.install
  - supervisor.programs
