{#- Kernel and login defaults of a recognised baseline (CIS Debian Linux 12
    Benchmark v1.1.0, dev-sec os-hardening): kernel parameters, unused
    protocols and filesystems kept out, people's umask, no core dumps, and
    services restarted after the libraries they run are upgraded. #}
include:
  - hardening.kernel
  - hardening.modules
  - hardening.login
  - hardening.needrestart
