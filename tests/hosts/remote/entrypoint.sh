#!/bin/sh
# The authorized key comes in AUTHORIZED_KEY (a public key: no secret). sshd
# runs in the background, so that a test can stop it (a dropped link) while
# dockerd, PID 1's child here, keeps the host's containers running.
set -eu
install -d -m 700 -o deploy -g deploy /home/deploy/.ssh
printf '%s\n' "${AUTHORIZED_KEY:?AUTHORIZED_KEY: the public key that may log in as deploy}" \
  > /home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys
chmod 600 /home/deploy/.ssh/authorized_keys
ssh-keygen -A >/dev/null
/usr/sbin/sshd -E /var/log/sshd.log
# Its own networks (docker0, docker_gwbridge) off 172.16.0.0/12: the outer
# engine has its docker0 there, whose
# gateway a swarm manager there advertises (a node joining must reach it).
exec dockerd --host unix:///var/run/docker.sock --bip 192.168.251.1/24 \
  --default-address-pool base=192.168.240.0/21,size=24 >/var/log/dockerd.log 2>&1
