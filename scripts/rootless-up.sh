#!/usr/bin/env bash
# Makes an ordinary user ready to run rootless podman, for the rootless
# end-to-end test (e2e_rootless_podman). Run as root, after podman-up.sh;
# idempotent (a second run changes nothing that works).
#
# What rootless podman needs, and what this script does for each:
#   - newuidmap/newgidmap (Debian's `uidmap`), slirp4netns and
#     fuse-overlayfs: installed when missing;
#   - a user with subordinate id ranges: `bud-rootless`, with one range of
#     65536 ids in /etc/subuid and /etc/subgid (after any range there);
#   - XDG_RUNTIME_DIR: /run/user/UID, 0700, owned by the user (made here:
#     there is no systemd-logind to make it);
#   - an OCI runtime that works for that user: podman's default is tried,
#     then runc, through the user's own containers.conf (cgroupfs and a file
#     events log: no systemd session here), never the machine's files;
#   - the overlay storage driver, in the user's own storage.conf: the
#     kernel's (rootless overlay, Linux 5.13+), else fuse-overlayfs; podman
#     4.3 may fall back to vfs, which copies every layer whole (minutes a
#     stage, gigabytes of disk);
#   - the base image in the user's own storage (root's podman save | the
#     user's podman load).
# On success it writes $BUD_ROOTLESS_STATE/env (default /tmp/bud-rootless)
# with the user's USER, HOME, XDG_RUNTIME_DIR and CONTAINERS_CONF, which
# the test reads. Where the host does not allow rootless containers (no
# user namespaces, ...), it writes the reason to $BUD_ROOTLESS_STATE/skipped,
# exits 0, and the test skips saying that reason.
#
# Environment:
#   BUD_ROOTLESS_STATE  state folder (default /tmp/bud-rootless)
#   BUD_ROOTLESS_USER   the user (default bud-rootless)
#   BUD_BASE_IMAGE      the base image (default bud-debian:bookworm)
set -euo pipefail

user=${BUD_ROOTLESS_USER:-bud-rootless}
base=${BUD_BASE_IMAGE:-bud-debian:bookworm}
state=${BUD_ROOTLESS_STATE:-/tmp/bud-rootless}
log() { printf 'rootless-up: %s\n' "$*" >&2; }
die() { printf 'rootless-up: error: %s\n' "$*" >&2; exit 1; }
# The host cannot run rootless containers: say why, for the test.
cannot() {
    printf '%s\n' "$*" >"$state/skipped"
    rm -f "$state/env"
    log "rootless podman cannot run here: $*"
    exit 0
}

[ "$(id -u)" = 0 ] || die "run as root (it makes a user and its subordinate ids)"
command -v podman >/dev/null 2>&1 || die "podman is not installed; run scripts/podman-up.sh first"
mkdir -p "$state"
chmod 0755 "$state"
# Decided afresh: a failure below leaves neither file (the test then fails
# with CI=true: the setup broke, which is not a host that cannot).
rm -f "$state/skipped" "$state/env"

apt_install() {
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y "$@" >/dev/null 2>&1 || {
        timeout 300 apt-get update >/dev/null
        timeout 600 apt-get install -y "$@" >/dev/null
    }
}
missing=()
command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
command -v fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

max_ns=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)
[ "$max_ns" -gt 0 ] || cannot "user namespaces are off (user.max_user_namespaces = $max_ns)"
if [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 0 ]; then
    cannot "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0)"
fi

if ! id "$user" >/dev/null 2>&1; then
    log "creating user $user"
    useradd --create-home --shell /bin/sh "$user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)

# One range of 65536 subordinate ids, after every range already given out.
for file in /etc/subuid /etc/subgid; do
    touch "$file"
    if ! grep -q "^$user:" "$file" && ! grep -q "^$uid:" "$file"; then
        start=$(awk -F: 'BEGIN { m = 100000 } { e = $2 + $3; if (e > m) m = e } END { print m }' "$file")
        printf '%s:%s:65536\n' "$user" "$start" >>"$file"
        log "$file: $user:$start:65536"
    fi
done

runtime_dir=/run/user/$uid
mkdir -p "$runtime_dir"
chown "$uid:$gid" "$runtime_dir"
chmod 0700 "$runtime_dir"

conf_dir=$home/.config/containers
conf=$conf_dir/containers.conf
# A command as the user, with only the environment rootless podman reads.
as_user() {
    runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" USER="$user" \
        LOGNAME="$user" XDG_RUNTIME_DIR="$runtime_dir" CONTAINERS_CONF="$conf" "$@"
}
# Writes the user's containers.conf with this runtime (none: podman's own).
write_conf() {
    runuser -u "$user" -- mkdir -p "$conf_dir"
    {
        printf '[engine]\n'
        [ -z "$1" ] || printf 'runtime = "%s"\n' "$1"
        # No systemd session for this user: cgroupfs and a plain events file.
        printf 'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    } >"$conf.tmp"
    chown "$uid:$gid" "$conf.tmp"
    mv "$conf.tmp" "$conf"
}
[ -f "$conf" ] || write_conf ""

# The storage driver: overlay (the kernel's, else through fuse-overlayfs).
storage=$conf_dir/storage.conf
write_storage() {
    {
        printf '[storage]\ndriver = "overlay"\n'
        [ -z "$1" ] || printf '[storage.options.overlay]\nmount_program = "%s"\n' "$1"
    } >"$storage.tmp"
    chown "$uid:$gid" "$storage.tmp"
    mv "$storage.tmp" "$storage"
}
driver() { as_user timeout 120 podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null; }
if [ ! -f "$storage" ]; then
    write_storage ""
fi
if [ "$(driver || true)" != overlay ]; then
    # Storage made with another driver (vfs) is dropped, images and all.
    log "resetting $user's storage to use the overlay driver"
    as_user timeout 300 podman system reset --force >/dev/null 2>&1 || true
    if [ "$(driver || true)" != overlay ]; then
        write_storage "$(command -v fuse-overlayfs)"
        as_user timeout 300 podman system reset --force >/dev/null 2>&1 || true
    fi
fi
used=$(driver || echo unknown)
case $used in
overlay) log "$user's storage driver: overlay$(grep -q mount_program "$storage" && echo ' (fuse-overlayfs)')" ;;
*) log "$user's storage driver: $used, not overlay: builds will be slow (vfs copies every layer whole)" ;;
esac
# Settles the user's storage after the id ranges changed.
as_user timeout 120 podman system migrate >/dev/null 2>&1 || true

if as_user timeout 60 podman image exists "$base"; then
    log "base image $base present in $user's storage"
else
    log "loading $base into $user's storage"
    if ! said=$(timeout 300 podman save "$base" | as_user timeout 300 podman load 2>&1 >/dev/null); then
        case $said in
        *"subuid"* | *"newuidmap"* | *"user namespace"* | *"uid_map"*)
            cannot "podman load as $user failed: $(printf '%s' "$said" | tail -n 1)" ;;
        esac
        die "podman load as $user failed: $(printf '%s' "$said" | tail -n 1)"
    fi
fi

probe() {
    as_user timeout 120 podman run --rm --network=host \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        "$base" true 2>&1 >/dev/null
}
runtime=$(grep -o '^runtime = "[a-z]*"' "$conf" | cut -d'"' -f2 || true)
if ! said=$(probe); then
    log "rootless podman (${runtime:-its default runtime}) fails here: $(printf '%s' "$said" | tail -n 1)"
    other=runc
    [ "$runtime" != runc ] || other=
    if [ -n "$other" ]; then
        command -v runc >/dev/null 2>&1 || apt_install runc
        write_conf runc
        if said_runc=$(probe); then
            said=
            runtime=runc
        else
            said="$said; runc said: $(printf '%s' "$said_runc" | tail -n 1)"
        fi
    fi
    if [ -n "$said" ]; then
        write_conf ""
        cannot "no OCI runtime runs rootless containers here: $(printf '%s' "$said" | tail -n 1)"
    fi
fi
log "rootless podman runs containers as $user (runtime: ${runtime:-the default})"

cat >"$state/env.tmp" <<EOF
USER=$user
HOME=$home
XDG_RUNTIME_DIR=$runtime_dir
CONTAINERS_CONF=$conf
EOF
chmod 0644 "$state/env.tmp"
mv "$state/env.tmp" "$state/env"
log "ready: $state/env"
