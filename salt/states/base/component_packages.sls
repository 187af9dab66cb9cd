{%- from "settings.jinja" import ws with context %}
{#- The packages of every other state this box applies, in one apt run after
    base.packages (with their Recommends, as each component's own pkg.installed,
    which then has nothing left to do). Once the system locale is set: a new
    PostgreSQL cluster takes it. The daemons our components configure are not
    started by their packages (_states/webstack_pkg.py): each component starts its
    own once, with its configuration, instead of restarting it. #}
include:
  - base.packages
  - base.locale
{%- set first = ['base', 'users', 'ssh'] %}

base-component-packages-are-installed:
  webstack_pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, exclude=first) | tojson }}
    - hold: {{ salt['webstack_pkg.daemons'](ws, exclude=first) | tojson }}
    - require:
      - pkg: base-packages-are-installed
      - locale: base-locale-is-the-system-default
