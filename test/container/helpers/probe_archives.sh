#!/bin/sh
# Two flat apt archives under /srv/probe, and an apt config that sees only
# them (APT_CONFIG=/srv/probe/apt.conf): the box's real archives stay out.
# "security" is labelled like Debian's security suite, "release" like its
# point releases; each offers a newer version of probe packages installed
# here (salt-minion among them, as a dummy). test_base.py checks what
# unattended-upgrade would take from them.
set -e
P=/srv/probe
rm -rf $P; mkdir -p $P/build $P/lists/partial
deb() {  # name version archive
  d=$P/build/$1-$2; mkdir -p $d/DEBIAN $P/$3
  printf 'Package: %s\nVersion: %s\nArchitecture: all\n' $1 $2 > $d/DEBIAN/control
  printf 'Maintainer: probe <probe@example.test>\nDescription: probe\n' >> $d/DEBIAN/control
  dpkg-deb -b $d $P/$3/$1_$2_all.deb >/dev/null
}
index() {  # archive origin label codename
  cd $P/$1; : > Packages
  for f in *.deb; do
    dpkg-deb -f $f Package Version Architecture Maintainer Description >> Packages
    sum=$(sha256sum $f | cut -d' ' -f1)
    printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' $f $(stat -c %s $f) $sum >> Packages
  done
  printf 'Origin: %s\nLabel: %s\nCodename: %s\nSuite: %s\n' $2 $3 $4 $4 > Release
  cd /
}
for p in webstack-probe-security webstack-probe-release webstack-probe-held salt-minion; do
  deb $p 1.0 installed
done
deb webstack-probe-security 2.0 security
deb webstack-probe-held 2.0 security
deb salt-minion 2.0 security
deb webstack-probe-release 2.0 release
index security Debian Debian-Security bookworm-security
index release Debian Debian bookworm
dpkg -i $P/installed/*.deb >/dev/null
printf 'deb [trusted=yes] file:%s/security ./\ndeb [trusted=yes] file:%s/release ./\n' $P $P > $P/sources.list
cat > $P/apt.conf <<EOF
Dir::State::Lists "$P/lists";
Dir::Etc::SourceList "$P/sources.list";
Dir::Etc::SourceParts "/nonexistent";
EOF
APT_CONFIG=$P/apt.conf apt-get update -q >/dev/null 2>&1
