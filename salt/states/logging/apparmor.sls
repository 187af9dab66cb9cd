{#- Where rsyslogd is confined by AppArmor (Ubuntu 24.04), let it read the CA
    file and the followed logs its profile doesn't cover. #}
{%- from "settings.jinja" import ws with context %}
{%- set snippets = ws.logging.apparmor_snippets %}
{%- if snippets %}
{%-   set fwd = salt['webstack_logging.forwarding'](ws) %}
{%-   set snippet = snippets ~ "/webstack-logging" %}
{%-   if fwd.enabled and fwd.reads %}

logging-apparmor-lets-rsyslogd-read-what-it-forwards:
  file.managed:
    - name: {{ snippet }}
    - makedirs: true
    - user: root
    - group: root
    - mode: "0644"
    - contents: |
        # Managed by Salt (webstack logging): what rsyslogd reads beyond its profile.
{%-     for path in fwd.reads %}
        "{{ path }}" r,
{%-     endfor %}
{%-   else %}

logging-apparmor-lets-rsyslogd-read-what-it-forwards:
  file.absent:
    - name: {{ snippet }}
{%-   endif %}

# Only where AppArmor is on and the profile enforced (not in a container, not
# where an admin disabled it: loading it would enable it again).
logging-apparmor-profile-of-rsyslogd-is-reloaded:
  cmd.run:
    - name: apparmor_parser --replace --skip-cache /etc/apparmor.d/usr.sbin.rsyslogd
    - onlyif: aa-enabled --quiet && test ! -e /etc/apparmor.d/disable/usr.sbin.rsyslogd
    - onchanges:
      - file: logging-apparmor-lets-rsyslogd-read-what-it-forwards
{%- endif %}
