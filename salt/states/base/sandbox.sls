{%- from "settings.jinja" import ws with context %}
{#- systemd sandboxing of the daemons this box runs: each component declares
    its units (component.yaml `sandbox`) and the directives are its settings
    (webstack:<component>:...:sandbox, salt://sandbox.yaml). Written once the
    packages are in and before the components start their daemons, which
    then never run without it; a changed drop-in restarts a running unit. A
    unit this box does not sandbox (turned off, or not run here) has none. #}
include:
  - base.component_packages
{%- for component, facts in ws.facts.items() %}
{%-   for unit in facts.sandbox %}
{%-     set id = 'base-' ~ unit.unit %}

{%-     if unit.enabled %}

{{ id }}-is-sandboxed:
  file.managed:
    - name: /etc/systemd/system/{{ unit.unit }}.d/50-webstack-sandbox.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (webstack {{ component }} component, salt://sandbox.yaml).
        [Service]
{%-       for line in unit.lines %}
        {{ line }}
{%-       endfor %}
    - require:
      - webstack_pkg: base-component-packages-are-installed
{%-     else %}

{{ id }}-is-sandboxed:
  file.absent:
    - name: /etc/systemd/system/{{ unit.unit }}.d/50-webstack-sandbox.conf
{%-     endif %}

{#- Loaded: systemd lists the drop-in (or no longer does) and has not seen
    it change since; so a run stopped between the two steps is made good. #}
{%-     set listed = 'systemctl show -P DropInPaths ' ~ unit.unit ~ ' | grep -q /50-webstack-sandbox.conf' %}
{%-     set fresh = 'test "$(systemctl show -P NeedDaemonReload ' ~ unit.unit ~ ')" = no' %}
{{ id }}-sandbox-is-loaded:
  cmd.run:
    - name: systemctl daemon-reload
    - unless: {{ ((listed if unit.enabled else '! ' ~ listed) ~ ' && ' ~ fresh) | tojson }}
    - require:
      - file: {{ id }}-is-sandboxed

{#- try-restart: only a unit that runs (its component starts it later). #}
{{ id }}-restarts-into-its-sandbox:
  cmd.run:
    - name: systemctl try-restart {{ unit.unit }}
    - onchanges:
      - file: {{ id }}-is-sandboxed
    - require:
      - cmd: {{ id }}-sandbox-is-loaded
{%-   endfor %}
{%- endfor %}
