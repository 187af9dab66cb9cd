{%- from "map.jinja" import ws with context %}
{#- One apt run for the base set, the site's extras and what the other common
    roles need (they include this file and require it), so a new box pays
    for one `apt-get update` and one dpkg transaction. #}
{%- set pkgs = ws.base.system_packages + ws.base.packages %}
{%- for state in ('users', 'ssh') if state in ws.states %}
{%-   do pkgs.extend(ws[state].packages) %}
{%- endfor %}

{#- A run cut off while apt was at work (a lost session, a reboot, kill -9)
    leaves dpkg with packages unpacked but not set up, or half installed:
    apt then refuses to install anything, or worse, a package counts as
    installed whose set-up (its users, its cluster) never ran. Finish that
    first, before any state of any role installs a package. #}
base-interrupted-package-installs-are-finished:
  cmd.run:
    - name: >-
        dpkg --force-confold --force-confdef --configure -a &&
        apt-get -q -y -o DPkg::Lock::Timeout=300 -o DPkg::Options::=--force-confold
        -o DPkg::Options::=--force-confdef install --fix-broken
    - env:
        DEBIAN_FRONTEND: noninteractive
    # dpkg's journal is not empty, or a package is neither installed, gone
    # nor just its config files (unpacked, half-configured, half-installed,
    # awaiting triggers, reinstall required).
    - onlyif: >-
        ls -A /var/lib/dpkg/updates | grep -q . ||
        dpkg-query -W -f '${db:Status-Abbrev}\n' | grep -qv '^.[icn] $'

base-packages-are-installed:
  pkg.installed:
    - pkgs: {{ pkgs | unique | list | tojson }}
    # Salt refreshes the package lists only when something is missing.
    - refresh: true
    # What we need is listed: a smaller box, a faster first run.
    - install_recommends: false
    - require:
      - cmd: base-interrupted-package-installs-are-finished
