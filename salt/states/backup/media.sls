{%- from "settings.jinja" import ws with context %}
{%- set backup = ws.backup %}
{%- set restic = backup.restic %}
{%- set after = ws.after.get('backup', []) %}
include:
  - backup.install
{%- for sls in after %}
  - {{ sls }}
{%- endfor %}

{%- if backup.media.active %}
{#- restic reads the store's keys from its environment and its passphrase
    from a file (written by the repository state, once the repository opens
    with it): neither shows in the process list; both root's alone. #}
backup-media-environment-is-private:
  file.managed:
    - name: {{ restic.env_file }}
    - contents: {{ restic.env_contents|tojson }}
    - show_changes: false
    - user: root
    - group: root
    - mode: "0600"
    - require:
      - file: backup-settings-directory-is-private

{#- The passphrase file lands once the repository opens with it; a new
    repository gets its first snapshot at once, not at the first timer run. #}
backup-media-repository-holds-a-snapshot:
  backup.media_snapshot_exists:
    - name: {{ backup.media.dir }}
    - command: {{ restic.command|tojson }}
    - env: {{ restic.env|tojson }}
    - passphrase: {{ backup.passphrase|tojson }}
    - host: {{ backup.host }}
    - require:
      - pkg: backup-tools-are-installed
      - file: backup-settings-directory-is-private
{%- if backup.store_ca %}
      - file: backup-trusts-the-stores-ca
{%- endif %}
{%- for sls in after %}
      - sls: {{ sls }}
{%- endfor %}
{%- endif %}
