{%- from "settings.jinja" import ws with context %}
{%- set backup = ws.backup %}
{%- set pkgs = salt['webstack_pkg.packages'](ws, ['backup']) %}
{%- if pkgs %}
backup-tools-are-installed:
  pkg.installed:
    - pkgs: {{ pkgs|tojson }}
{%- endif %}

{%- if backup.active %}
{#- restic's passphrase and environment: root's alone. #}
backup-settings-directory-is-private:
  file.directory:
    - name: {{ backup.conf_dir }}
    - user: root
    - group: root
    - mode: "0711"
    - makedirs: true

{%- if backup.store_ca %}
backup-trusts-the-stores-ca:
  file.managed:
    - name: {{ backup.store_ca }}
    - contents: {{ backup.repository.s3.ca|tojson }}
    - user: root
    - group: root
    - mode: "0644"
    - require:
      - file: backup-settings-directory-is-private
{%- endif %}
{%- endif %}
