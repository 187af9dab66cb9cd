{%- from "settings.jinja" import ws with context %}
include:
  - logging.install
  - logging.forward
  - logging.apparmor

# rsyslog has no reload that rereads its configuration: a change restarts it
# (the forwarding queue is saved to disk and taken up again).
logging-rsyslog-runs-and-restarts-on-changes:
  service.running:
    - name: rsyslog
    - enable: true
    - watch:
      - pkg: logging-rsyslog-is-installed
      - sls: logging.forward
{%- if ws.logging.apparmor_snippets %}
      - sls: logging.apparmor
{%- endif %}
