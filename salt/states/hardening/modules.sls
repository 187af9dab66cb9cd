{%- from "settings.jinja" import ws with context %}
{#- Kernel modules a web server never uses can't be loaded, even on demand
    (a socket of an unused protocol family would load its module): modprobe
    runs /bin/false instead, and udev's blacklist skips them. #}

hardening-unused-kernel-modules-are-not-loadable:
  file.managed:
    - name: /etc/modprobe.d/webstack-hardening.conf
    # Not there before kmod is (a minimal container has none).
    - makedirs: true
    - source: salt://hardening/files/modprobe.conf.jinja
    - template: jinja
    - context:
        modules: {{ ws.hardening.modules_disabled | tojson }}
    - user: root
    - group: root
    - mode: '0644'
