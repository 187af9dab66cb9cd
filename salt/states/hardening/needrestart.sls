{%- from "settings.jinja" import ws with context %}
{#- needrestart (installed with the other components' packages) runs after
    every apt run, unattended upgrades included (its apt hook), and finds
    the services still running deleted libraries: it restarts them, or only
    lists them (pillar webstack:hardening:needrestart:restart). #}
{%- set nr = ws.hardening.needrestart %}
{%- if nr.enabled %}
include:
  - base.component_packages

hardening-needrestart-restarts-services-after-upgrades:
  file.managed:
    - name: /etc/needrestart/conf.d/webstack.conf
    - contents: |
        # Managed by Salt (webstack hardening role): pillar webstack:hardening:needrestart.
        # a: restart services running deleted libraries; l: list them only.
        $nrconf{restart} = '{{ nr.restart }}';
        # Not the Salt minion: a restart would cut its run short.
        $nrconf{override_rc}{qr(^salt-minion)} = 0;
        1;
    - user: root
    - group: root
    - mode: '0644'
    - check_cmd: perl -c
    - require:
      - webstack_pkg: base-component-packages-are-installed
{%- else %}

hardening-needrestart-is-absent:
  pkg.removed:
    - name: needrestart

hardening-needrestart-restarts-services-after-upgrades:
  file.absent:
    - name: /etc/needrestart/conf.d/webstack.conf
{%- endif %}
