{%- from "settings.jinja" import ws with context %}
{%- set fwd = salt['webstack_logging.forwarding'](ws) %}
include:
  - logging.install

{%- if fwd.enabled %}
{%-   if fwd.ca %}

logging-rsyslog-trusts-the-ca-of-the-remote:
  file.managed:
    - name: {{ fwd.ca_path }}
    - contents: {{ fwd.ca | json }}
    - user: root
    - group: root
    - mode: "0644"
    - require_in:
      - file: logging-rsyslog-forwards-everything-to-the-remote-over-tls
{%-   else %}

logging-rsyslog-has-no-ca-of-its-own:
  file.absent:
    - name: {{ fwd.ca_path }}

# rsyslogd -N1 doesn't look for it: a missing bundle would only show when
# connecting.
logging-ca-file-of-the-remote-exists:
  file.exists:
    - name: {{ fwd.ca_file }}
    - require:
      - pkg: logging-rsyslog-is-installed
    - require_in:
      - file: logging-rsyslog-forwards-everything-to-the-remote-over-tls
{%-   endif %}

# Checked on its own (rsyslogd -N1) before it lands; rsyslog restarts on
# change. The copy checked sits in rsyslog.d (not *.conf, so never included):
# where AppArmor confines rsyslogd, /tmp is out of its reach.
logging-rsyslog-forwards-everything-to-the-remote-over-tls:
  file.managed:
    - name: {{ fwd.config }}
    - source: salt://logging/files/remote.conf.jinja
    - template: jinja
    - context:
        fwd: {{ fwd | json }}
    - user: root
    - group: root
    - mode: "0644"
    - check_cmd: rsyslogd -N1 -f
    - tmp_dir: /etc/rsyslog.d
    - require:
      - pkg: logging-rsyslog-is-installed
{%- else %}

# No remote: local logging only.
logging-rsyslog-forwards-nothing:
  file.absent:
    - names:
      - {{ fwd.config }}
      - {{ fwd.ca_path }}
{%- endif %}
