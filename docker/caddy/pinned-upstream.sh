#!/bin/sh
# Entrypoint: start Caddy on the upstream the last deploy pinned, not on the
# Caddyfile's default ({$UPSTREAM:api:8000}, the service's alias, which covers
# every api container, a new one from the moment it is created).
#
# Each switch of `inv prod-deploy` writes the container it sends the traffic to
# (host:port, one that passed the health gate) to PIN, then reloads Caddy with
# UPSTREAM set to it. A reload's environment dies with the process; PIN is on
# the caddy-config volume, so a restart (docker restart, the engine's restart
# policy) or a recreate of this container comes back on the same upstream.
#
# A pinned container that does not resolve within WAIT seconds (the engine may
# still be starting it) is gone: the stack was recreated outside a deploy
# (`inv down`, then `inv up`). Caddy then starts on the Caddyfile's default,
# and says so; the next deploy pins again.
set -eu
PIN=/config/stackyard-upstream
WAIT=15

pinned=$(cat "$PIN" 2>/dev/null || true)
if [ -n "$pinned" ]; then
  waited=0
  until getent hosts "${pinned%:*}" >/dev/null; do
    if [ "$waited" -ge "$WAIT" ]; then
      echo "pinned upstream $pinned ($PIN) does not resolve after $WAIT s: starting on the Caddyfile's default" >&2
      pinned=
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
fi
if [ -n "$pinned" ]; then
  echo "upstream $pinned, pinned by the last deploy ($PIN)" >&2
  # An empty UPSTREAM would not fall back to the Caddyfile's default: set only when known.
  UPSTREAM=$pinned
  export UPSTREAM
fi
exec "$@"
