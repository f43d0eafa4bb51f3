#!/bin/sh
# Made by fixuser (fixuser fix --strategy entrypoint) for CIS Docker Benchmark 4.1: the
# container starts as root only to hand what its user must write to 10001:10001, then runs
# its command as that user. Started as another user already (docker run --user, Kubernetes
# runAsUser), it only runs the command.
set -e
if [ "$(id -u)" != 0 ]; then
	exec "$@"
fi
uid=10001
gid=10001
for path in /data; do
	if [ -e "$path" ] || mkdir -p "$path"; then
		# Only what is not the user's yet, on this file system, links not followed: a tree
		# that is the user's already costs one walk and no write.
		find "$path" -xdev \( ! -user "$uid" -o ! -group "$gid" \) -exec chown -h "$uid:$gid" {} + ||
			echo "fixuser-entrypoint: cannot hand $path to $uid:$gid" >&2
	fi
done
# The user's entry in /etc/passwd: its home (root's is no use to it) and its groups.
home=/ groups=--clear-groups
while IFS=: read -r _name _ _uid _ _ _home _; do
	if [ "$_uid" = "$uid" ]; then
		home=$_home groups=--init-groups
		break
	fi
done </etc/passwd
if [ "${HOME:-/root}" = /root ]; then
	export HOME="$home"
fi
exec setpriv --reuid="$uid" --regid="$gid" "$groups" -- "$@"
