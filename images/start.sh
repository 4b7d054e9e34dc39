#!/bin/sh
# Entry point of the single-user containers: runs as root just long enough to hand the user's
# home volume to the user's own uid ($NB_UID, from hepcourse.uids: file permissions then mean
# something between users, e.g. in the nbgrader exchange), then drops to that uid.
set -eu
uid=${NB_UID:-1000}
home=${HOME_DIR:-/home/jovyan}
if [ "$(id -u)" = 0 ]; then
    [ "$(stat -c %u "$home")" = "$uid" ] || chown "$uid:$uid" "$home"
    exec setpriv --reuid="$uid" --regid="$uid" --clear-groups -- env HOME="$home" "$@"
fi
exec "$@"
