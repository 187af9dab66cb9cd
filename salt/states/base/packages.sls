{%- from "settings.jinja" import ws with context %}
{#- One apt run for the base set, the site's extras and what the users and
    ssh components need (they include this file and require it); every other
    component's packages follow in one more (base.component_packages), so a new box
    pays for one `apt-get update` and two dpkg transactions. #}

{#- A run cut off while apt was at work (a lost session, a reboot, kill -9)
    leaves dpkg with packages unpacked but not set up, or half installed:
    apt then refuses to install anything, or worse, a package counts as
    installed whose set-up (its users, its cluster) never ran. Finish that
    first, before any state of any role installs a package. #}
base-interrupted-package-installs-are-finished:
  webstack_pkg.dpkg_finished: []

base-packages-are-installed:
  pkg.installed:
    - pkgs: {{ salt['webstack_pkg.packages'](ws, ['base', 'users', 'ssh']) | tojson }}
    # Salt refreshes the package lists only when something is missing.
    - refresh: true
    # What we need is listed: a smaller box, a faster first run.
    - install_recommends: false
    - require:
      - webstack_pkg: base-interrupted-package-installs-are-finished
