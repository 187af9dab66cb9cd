{%- from "settings.jinja" import ws with context %}
{%- set backup = ws.backup %}
{%- set after = ws.after.get('backup', []) %}
include:
  - backup.install
{%- for sls in after %}
  - {{ sls }}
{%- endfor %}

{%- if backup.database.active %}
{%- set pgbr = backup.pgbackrest %}
{%- set local = pgbr.sections.global['repo1-type'] == 'posix' %}
{%- if local %}
backup-database-repository-directory-is-postgres-own:
  file.directory:
    - name: {{ pgbr.sections.global['repo1-path'] }}
    - user: postgres
    - group: postgres
    - mode: "0750"
    - makedirs: true
    - require:
      - pkg: backup-tools-are-installed
{%- endif %}

{#- Written only once the store was read with it (a new passphrase for an
    existing stanza is refused); never shown: it holds the secrets. #}
backup-repository-holds-this-clusters-stanza:
  backup.stanza_present:
    - name: {{ backup.stanza }}
    - config: {{ pgbr.path }}
    - contents: {{ pgbr.contents|tojson }}
    - port: {{ ws.postgresql.port }}
    - require:
      - pkg: backup-tools-are-installed
{%- if backup.store_ca %}
      - file: backup-trusts-the-stores-ca
{%- endif %}
{%- if local %}
      - file: backup-database-repository-directory-is-postgres-own
{%- endif %}
{%- for sls in after %}
      - sls: {{ sls }}
{%- endfor %}
{%- endif %}

{%- if backup.archive_conf %}
{#- archive_mode needs a restart (once); the command and timeout a reload. #}
postgresql-archives-its-wal-to-the-backup-repository:
{%- if backup.archive %}
  file.managed:
    - name: {{ backup.archive_conf }}
    - source: salt://backup/files/archiving.conf.jinja
    - template: jinja
    - context:
        settings: {{ backup.archive|tojson }}
    - user: postgres
    - group: postgres
    - mode: "0644"
    - require:
      - backup: backup-repository-holds-this-clusters-stanza
{%- else %}
  file.absent:
    - name: {{ backup.archive_conf }}
{%- endif %}

postgresql-cluster-applies-the-archiving-settings:
  postgresql_cluster.config_applied:
    - name: {{ ws.postgresql.service }}
    - port: {{ ws.postgresql.port }}
    - watch:
      - file: postgresql-archives-its-wal-to-the-backup-repository
{%- endif %}

{%- if backup.database.active %}
{#- WAL is of no use before a full backup: a new stanza gets one now. #}
backup-database-has-a-full-backup:
  backup.full_backup_exists:
    - name: {{ backup.stanza }}
    - require:
      - postgresql_cluster: postgresql-cluster-applies-the-archiving-settings
{%- endif %}
