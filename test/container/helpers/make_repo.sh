#!/bin/sh
# make_repo.sh SOURCE WORK REPO: a bare git repository at REPO (branch main)
# holding a copy of the app at SOURCE, and a work clone at WORK with REPO as
# its origin. Prints main's commit.
set -e
source=$1 work=$2 repo=$3
rm -rf "$work" "$repo"
cp -r "$source" "$work"
cd "$work"
find . -name __pycache__ -prune -exec rm -rf {} +
rm -f db.sqlite3
git init -q -b main
git add -A
git -c user.name=test -c user.email=test@webstack.test commit -qm 'example app'
mkdir -p "$(dirname "$repo")"
git clone -q --bare "$work" "$repo"
git remote add origin "$repo"
git fetch -q origin
git rev-parse HEAD
