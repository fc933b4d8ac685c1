#!/usr/bin/env bash
# lab/qemu.sh — plain QEMU guests without libvirt, laid out as Proxmox VE lays them out, for
# vmcheck's QMP backend (vmcheck check --qemu-dir). Runs on top of lab/lab.sh's lab: it reuses
# its guest kernel and initramfs and its network namespaces and bridge; lab/lab.sh up must
# have run (any --guests) and the lab must still be up.
#
#   lab/qemu.sh up        start the guests that are not running (idempotent); waits until each
#                         has booted and, where one should answer, its agent answers; writes
#                         $QEMU_LAB_DIR/env; stdout gets "VMCHECK_QEMU_LAB_RUN=<socket dir>"
#   lab/qemu.sh down      stop every QEMU (and socket holder) this script started, by pid,
#                         the twin's included
#   lab/qemu.sh status
#   lab/qemu.sh twin up | down | status
#       an extra guest on demand, 9006 qemu-twin (debian, agent on, 192.0.2.96/24 gw
#       192.0.2.1, 52:54:00:0c:90:06, no Proxmox VE config) whose -smbios uuid is guest
#       9001's: two running VMs that report one UUID. Its sockets are in $QEMU_LAB_DIR/twin,
#       so a scan of run/ (--qemu-dir) never sees it; name it in qemu_vms. up is idempotent
#       (needs lab/lab.sh's lab, not this script's other guests) and prints
#       "VMCHECK_QEMU_LAB_TWIN=<socket dir>"; down stops it by pid
#   lab/qemu.sh node2 up | down | status | cut | restore | link-down VMID | link-up VMID |
#                     delete VMID
#       "node two" of the fleet e2e (e2e/fleet_test.go): four guests of their own, for a second
#       vmcheck serve (--qemu-dir $QEMU_LAB_DIR/node2/run --pve-config-dir .../node2/pve):
#         9011 n2-web, 9012 n2-db, 9013 n2-app  on bridge vcn2br0 (192.0.2.226-228/28), a
#             network only they use, whose gateway 192.0.2.225 is the lab router's (vcn2br0 in
#             vmcheck-lab; the /28 is more specific than vcpub0's /24, so the router sends
#             their traffic there and the outside answers them through it)
#         9014 n2-solo  on vcpub0 (192.0.2.97/24 gw 192.0.2.1), node two's other network
#       all debian, agent on, with a Proxmox VE config naming the bridge. up (idempotent)
#       creates the bridge, starts what is missing and prints "VMCHECK_QEMU_NODE2_RUN=<dir>";
#       down stops them by pid and removes the bridge; cut | restore takes vcn2br0 down | up
#       (every VM of that network loses its gateway alike; no VM of lab/lab.sh is on it);
#       link-down | link-up VMID does what Proxmox VE does for "qm set VMID --net0 ...,
#       link_down=1": QMP set_link and link_down=1 in the config; delete VMID kills the VM and
#       removes its sockets and config ("qm destroy"); up starts it again. lab/qemu.sh down
#       stops node two too.
#   lab/qemu.sh qmp VMID JSON                 one QMP command (after qmp_capabilities)
#   lab/qemu.sh fault NAME VMID [SECONDS]
#       pause | resume                        QMP stop / cont
#       hold-agent VMID SECONDS               another client holds the agent socket (socat)
#       release-agent                         end that client early
#       freeze-agent VMID SECONDS             SIGSTOP the guest's qemu-ga for SECONDS (starts in 1 s)
#       kill | start                          SIGKILL QEMU (its sockets stay behind) / start it again
#   Network faults of lab/lab.sh act on these guests too (same bridge vcpub0, router and
#   outside namespaces): lab/lab.sh fault cut-outside | restore-outside | upstream-cut |
#   upstream-restore | drop-gateway | restore-gateway | gateway-absent | gateway-present |
#   gateway-drop-icmp | gateway-allow-icmp | mtu-blackhole | mtu-restore | dns-stop |
#   dns-start | tcp-drop | tcp-reject | tcp-allow | loss | loss-restore (lab/lab.sh up undoes
#   them all). Its per-domain faults (link-*, tap-*, guest-*, pause, ...) need a libvirt
#   domain: use the faults above, or QMP set_link for the host link.
#   Guest tools: the same initramfs, so the role decides: "debian" (every guest here but
#   qemu-hostile) has glibc getent and curl in /usr/bin, /etc/resolv.conf names lab.sh's
#   dnsmasq (203.0.113.53: www.example.test -> 203.0.113.10), http://203.0.113.10/ answers.
#
# Layout ($QEMU_LAB_DIR, default /var/tmp/vmcheck-qemu-lab):
#   run/<vmid>.qmp  QMP socket     (Proxmox VE: /var/run/qemu-server/<vmid>.qmp)
#   run/<vmid>.qga  agent socket   (Proxmox VE: /var/run/qemu-server/<vmid>.qga, chardev qga0)
#   run/<vmid>.pid  QEMU's pid
#   pve/<vmid>.conf Proxmox VE style config (Proxmox VE: /etc/pve/qemu-server/<vmid>.conf)
#   console/<vmid>.log serial console
#   twin/9006.qmp, .qga, .pid, .log   the twin's (lab/qemu.sh twin up)
#   node2/run, node2/pve, node2/console   node two's, laid out as run/, pve/ and console/
#
# Isolation: QEMU runs in the network namespace vmcheck-lab (lab/lab.sh's), its tap device
# tap<vmid>i0 on the bridge vcpub0 there; no user-mode networking; documentation addresses only.
# Processes are stopped by the pids this script recorded, after checking they are ours.
#
# Environment: VMCHECK_QEMU_LAB_DIR (default /var/tmp/vmcheck-qemu-lab), VMCHECK_LAB_DIR
# (lab/lab.sh's, default /var/tmp/vmcheck-lab), VMCHECK_LAB_BOOT_TIMEOUT (default 300).
set -euo pipefail

QDIR=${VMCHECK_QEMU_LAB_DIR:-/var/tmp/vmcheck-qemu-lab}
QDIR=${QDIR%/}
LAB_DIR=${VMCHECK_LAB_DIR:-/var/tmp/vmcheck-lab}
LAB_DIR=${LAB_DIR%/}
BOOT_TIMEOUT=${VMCHECK_LAB_BOOT_TIMEOUT:-300}
SELF=$(readlink -f "${BASH_SOURCE[0]}")

NS_LAB=vmcheck-lab
BR_PUB=vcpub0
RUN=$QDIR/run
PVE=$QDIR/pve
CONSOLE=$QDIR/console
STATE=$QDIR/state
TWIN=$QDIR/twin
N2=$QDIR/node2
BR_N2=vcn2br0
N2_GW4=192.0.2.225
N2_LEN=28
KERNEL_ARGS="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp"

# The guests. Columns: vmid name role agent address gw4 conf post hostile
#   role   a guest personality of lab/guest/init (hostile: lab/hostile is the agent)
#   agent  on|off   qemu-ga (or the hostile agent) started in the guest or not (the agent
#                   socket exists either way)
#   conf   yes|no   a Proxmox VE config in pve/ (no: vmcheck learns NICs from QMP alone)
#   post   -|stop   paused with QMP "stop" once booted
#   hostile -|bombs|slow  the hostile agent's mode (role hostile)
GUEST_TABLE='
9001 qemu-healthy debian  on  192.0.2.91/24 192.0.2.1   yes -    -
9002 qemu-badgw   debian  on  192.0.2.92/24 192.0.2.254 no  -    -
9003 qemu-paused  debian  on  192.0.2.93/24 192.0.2.1   yes stop -
9004 qemu-noagent debian  off 192.0.2.94/24 192.0.2.1   yes -    -
9005 qemu-hostile hostile on  192.0.2.95/24 192.0.2.1   yes -    bombs
'
# Node two's guests (lab/qemu.sh node2 ...). Columns: vmid name address gw4 bridge
NODE2_TABLE="
9011 n2-web  192.0.2.226/$N2_LEN $N2_GW4   $BR_N2
9012 n2-db   192.0.2.227/$N2_LEN $N2_GW4   $BR_N2
9013 n2-app  192.0.2.228/$N2_LEN $N2_GW4   $BR_N2
9014 n2-solo 192.0.2.97/24    192.0.2.1 $BR_PUB
"
ALL=()
N2_ALL=()
declare -A G_NAME G_ROLE G_AGENT G_ADDR G_GW4 G_CONF G_POST G_HOSTILE G_BR G_SET
while read -r id name role agent addr gw conf post hostile; do
	[ -n "${id:-}" ] || continue
	ALL+=("$id")
	G_NAME[$id]=$name G_ROLE[$id]=$role G_AGENT[$id]=$agent G_ADDR[$id]=$addr
	G_GW4[$id]=$gw G_CONF[$id]=$conf G_POST[$id]=$post G_HOSTILE[$id]=$hostile
	G_BR[$id]=$BR_PUB G_SET[$id]=main
done <<<"$GUEST_TABLE"
while read -r id name addr gw br; do
	[ -n "${id:-}" ] || continue
	N2_ALL+=("$id")
	G_NAME[$id]=$name G_ROLE[$id]=debian G_AGENT[$id]=on G_ADDR[$id]=$addr
	G_GW4[$id]=$gw G_CONF[$id]=yes G_POST[$id]=- G_HOSTILE[$id]=- G_BR[$id]=$br G_SET[$id]=node2
done <<<"$NODE2_TABLE"

# The twin (lab/qemu.sh twin up): not one of ALL, and not under $RUN; it reports the UUID
# of TWIN_OF.
TWIN_ID=9006
TWIN_OF=9001
G_NAME[$TWIN_ID]=qemu-twin G_ROLE[$TWIN_ID]=debian G_AGENT[$TWIN_ID]=on G_ADDR[$TWIN_ID]=192.0.2.96/24
G_GW4[$TWIN_ID]=192.0.2.1 G_CONF[$TWIN_ID]=no G_POST[$TWIN_ID]=- G_HOSTILE[$TWIN_ID]=-
G_BR[$TWIN_ID]=$BR_PUB G_SET[$TWIN_ID]=twin

say() { printf '[qemu-lab] %s\n' "$*" >&2; }
die() {
	printf '[qemu-lab] error: %s\n' "$*" >&2
	exit 1
}
is_guest() { [ "${G_SET[${1:-x}]:-}" = main ]; }
is_node2() { [ "${G_SET[${1:-x}]:-}" = node2 ]; }
mac_of() { printf '52:54:00:0c:90:%02d' "$((10#${1: -2}))"; }
uuid_of() { echo "5c0c0000-0000-4000-8000-00000000$1"; }
# The UUID a guest's QEMU reports (-smbios type=1,uuid=): the twin claims TWIN_OF's.
smbios_uuid_of() {
	if [ "$1" = "$TWIN_ID" ]; then uuid_of "$TWIN_OF"; else uuid_of "$1"; fi
}
# Where a guest's sockets, pid file and (for the twin) console log are.
dir_of() {
	case ${G_SET[$1]:-} in
	twin) echo "$TWIN" ;;
	node2) echo "$N2/run" ;;
	*) echo "$RUN" ;;
	esac
}
console_of() {
	case ${G_SET[$1]:-} in
	twin) echo "$TWIN/$1.log" ;;
	node2) echo "$N2/console/$1.log" ;;
	*) echo "$CONSOLE/$1.log" ;;
	esac
}
# Where a guest's Proxmox VE config is.
pve_of() {
	if is_node2 "$1"; then echo "$N2/pve"; else echo "$PVE"; fi
}

check_dir() {
	case $QDIR in
	/ | /tmp | /var/tmp | /var | /root | /home | /etc | /usr | /run) die "refusing VMCHECK_QEMU_LAB_DIR=$QDIR" ;;
	/?*) ;;
	*) die "VMCHECK_QEMU_LAB_DIR must be an absolute path" ;;
	esac
	[[ $QDIR =~ ^/[A-Za-z0-9._/-]+$ ]] || die "VMCHECK_QEMU_LAB_DIR may only hold [A-Za-z0-9._/-]"
	[ "$(id -u)" = 0 ] || die "the lab needs root"
}

prepare_dir() {
	if [ -e "$QDIR" ] && [ ! -e "$QDIR/.vmcheck-qemu-lab" ] && [ -n "$(ls -A "$QDIR")" ]; then
		die "$QDIR exists and is not a vmcheck QEMU lab dir"
	fi
	mkdir -p "$RUN" "$PVE" "$CONSOLE" "$STATE"
	touch "$QDIR/.vmcheck-qemu-lab"
}

lock() {
	exec 9>"$QDIR/.lock"
	flock -w 600 9 || die "another qemu.sh holds $QDIR/.lock"
}

ensure_socat() {
	command -v socat >/dev/null && return 0
	say "installing socat"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >&2
}

# Sets KERNEL and INITRD from lab/lab.sh's cache; checks that its network is there.
need_base_lab() {
	local k
	k=$(find "$LAB_DIR/cache/kernel" -mindepth 2 -maxdepth 2 -name .done -printf '%h\n' 2>/dev/null | sort -V | tail -n 1)
	KERNEL=${k:+$k/vmlinuz}
	INITRD=$LAB_DIR/cache/image/initrd.gz
	if [ -z "$KERNEL" ] || [ ! -s "$KERNEL" ] || [ ! -s "$INITRD" ]; then
		die "no guest kernel/initramfs under $LAB_DIR/cache: run lab/lab.sh up first"
	fi
	[ -e "/run/netns/$NS_LAB" ] || die "network namespace $NS_LAB missing: run lab/lab.sh up first"
	ip -n "$NS_LAB" link show "$BR_PUB" >/dev/null 2>&1 || die "bridge $BR_PUB missing in $NS_LAB: run lab/lab.sh up first"
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run lab/lab.sh up first"
}

# Prints the pid of the QEMU of VMID if its pid file names a live QEMU started for this lab.
qemu_pid() {
	local pid d
	d=$(dir_of "$1")
	pid=$(cat "$d/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-system-x86 ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/$1.qmp" || return 1
	echo "$pid"
}

# Stops a process we started, by pid: TERM, then KILL after a grace period.
stop_pid() {
	local pid=$1
	[ -d "/proc/$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
}

# (shut-none: a half-closed socket is a hang-up to QEMU, which would then drop the reply)
qmp() {
	local id=$1 cmd=$2
	printf '{"execute":"qmp_capabilities"}\n%s\n' "$cmd" |
		timeout 10 socat -t 1 - "UNIX-CONNECT:$(dir_of "$id")/$id.qmp,shut-none" | grep -v '"QMP"' | tail -n 1
}

agent_ping() {
	local id=$1 n=$RANDOM
	printf '\xff{"execute":"guest-sync-delimited","arguments":{"id":%d}}\n' "$n" |
		timeout 5 socat -t 1 - "UNIX-CONNECT:$(dir_of "$id")/$id.qga,shut-none" 2>/dev/null | grep -aq "\"return\": $n}"
}

booted() { grep -q '\[vmcheck-init\] ready' "$(console_of "$1")" 2>/dev/null; }

# write_conf VMID [LINKDOWN]: the guest's Proxmox VE config; LINKDOWN "1" adds link_down=1
# to net0, as Proxmox VE does when it sets the link down.
write_conf() {
	local id=$1 pve ld=''
	pve=$(pve_of "$id")
	if [ "${G_CONF[$id]}" != yes ]; then
		rm -f "$pve/$id.conf"
		return
	fi
	[ "${2:-}" != 1 ] || ld=,link_down=1
	cat >"$pve/$id.conf.tmp" <<EOF
# vmcheck lab: a Proxmox VE style VM config (/etc/pve/qemu-server/$id.conf)
agent: 1
boot: order=net0
cores: 1
memory: 128
name: ${G_NAME[$id]}
net0: virtio=$(mac_of "$id" | tr 'a-f' 'A-F'),bridge=${G_BR[$id]},firewall=0$ld
ostype: l26
smbios1: uuid=$(smbios_uuid_of "$id")

[lab-snapshot]
name: ${G_NAME[$id]}-old
net0: virtio=52:54:00:0C:99:99,bridge=vmbr9
EOF
	mv "$pve/$id.conf.tmp" "$pve/$id.conf"
}

start_guest() {
	local id=$1 cmdline d log
	d=$(dir_of "$id") log=$(console_of "$id")
	rm -f "$d/$id.qmp" "$d/$id.qga" "$d/$id.pid"
	: >"$log"
	write_conf "$id"
	cmdline="$KERNEL_ARGS vmcheck.host=${G_NAME[$id]} vmcheck.role=${G_ROLE[$id]} vmcheck.agent=${G_AGENT[$id]}"
	cmdline+=" vmcheck.net=eth0,${G_ADDR[$id]} vmcheck.gw4=${G_GW4[$id]}"
	[ "${G_HOSTILE[$id]}" = - ] || cmdline+=" vmcheck.hostile=${G_HOSTILE[$id]}"
	# Inside the lab's network namespace, so that the tap device lands there.
	nsenter --net="/run/netns/$NS_LAB" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		qemu-system-x86_64 -name "${G_NAME[$id]},debug-threads=on" \
		-smbios "type=1,uuid=$(smbios_uuid_of "$id")" \
		-machine pc -accel tcg -m 128 -smp 1 -nodefaults -no-user-config -display none \
		-kernel "$KERNEL" -initrd "$INITRD" -append "$cmdline" \
		-serial "file:$log" \
		-chardev "socket,id=qmp,path=$d/$id.qmp,server=on,wait=off" -mon chardev=qmp,mode=control \
		-chardev "socket,path=$d/$id.qga,server=on,wait=off,id=qga0" \
		-device virtio-serial,id=qga-ser -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
		-netdev "tap,id=net0,ifname=tap${id}i0,script=$(ifup_of "$id"),downscript=no" \
		-device "virtio-net-pci,mac=$(mac_of "$id"),netdev=net0,id=net0,romfile=" \
		-device virtio-rng-pci \
		-pidfile "$d/$id.pid" -daemonize 9>&- </dev/null >&2
	qemu_pid "$id" >/dev/null || die "QEMU for $id did not start"
}

wait_guests() {
	local pending=("$@") left id deadline=$((SECONDS + BOOT_TIMEOUT)) last=''
	while :; do
		left=()
		for id in "${pending[@]}"; do
			qemu_pid "$id" >/dev/null || {
				tail -n 25 "$(console_of "$id")" >&2 || true
				die "QEMU of $id exited while booting"
			}
			if booted "$id" && { [ "${G_AGENT[$id]}" != on ] || agent_ping "$id"; }; then continue; fi
			left+=("$id")
		done
		pending=("${left[@]}")
		if [ "${#pending[@]}" != "$last" ]; then
			say "waiting for ${#pending[@]} guests"
			last=${#pending[@]}
		fi
		[ ${#pending[@]} -gt 0 ] || return 0
		if [ $SECONDS -ge $deadline ]; then
			for id in "${pending[@]}"; do
				say "guest $id never came up; console tail:"
				tail -n 25 "$(console_of "$id")" >&2 || true
			done
			die "timeout after ${BOOT_TIMEOUT}s"
		fi
		sleep 1
	done
}

# Starts the guests, waits until they are up and applies their post-boot state.
boot_guests() {
	local id
	for id in "$@"; do start_guest "$id"; done
	wait_guests "$@"
	post_boot "$@"
}

post_boot() {
	local id
	for id in "$@"; do
		if [ "${G_POST[$id]}" = stop ]; then
			qmp "$id" '{"execute":"stop"}' >/dev/null
			say "paused $id"
		fi
	done
}

write_env() {
	local guests='' id
	for id in "${ALL[@]}"; do guests+="$id:${G_NAME[$id]} "; done
	cat >"$QDIR/env.tmp" <<EOF
# vmcheck QEMU lab ($QDIR), written by lab/qemu.sh up
VMCHECK_QEMU_LAB_DIR=$QDIR
VMCHECK_QEMU_LAB_RUN=$RUN
VMCHECK_QEMU_LAB_PVE=$PVE
VMCHECK_QEMU_LAB_GUESTS="${guests% }"
export VMCHECK_QEMU_LAB_DIR VMCHECK_QEMU_LAB_RUN VMCHECK_QEMU_LAB_PVE VMCHECK_QEMU_LAB_GUESTS
EOF
	mv "$QDIR/env.tmp" "$QDIR/env"
}

# QEMU's tap ifup scripts (Proxmox VE: pve-bridge): $STATE/ifup puts the tap into vcpub0,
# $STATE/ifup-vcn2br0 into node two's bridge.
write_ifup() {
	local br f
	for br in "$BR_PUB" "$BR_N2"; do
		f=$STATE/ifup
		[ "$br" = "$BR_PUB" ] || f=$STATE/ifup-$br
		# shellcheck disable=SC2016 # $1 is the ifup script's own argument
		printf '#!/bin/sh\n# QEMU tap ifup script (Proxmox VE: pve-bridge)\nip link set "$1" master %s && ip link set "$1" up\n' "$br" >"$f"
		chmod 0755 "$f"
	done
}
ifup_of() {
	if [ "${G_BR[$1]}" = "$BR_PUB" ]; then echo "$STATE/ifup"; else echo "$STATE/ifup-${G_BR[$1]}"; fi
}

# Succeeds if the guest runs in the current vmcheck-lab namespace. A guest left in an
# older one (lab/lab.sh down + up meanwhile) has no network any more: it is stopped, to be
# started again in the current one.
running_here() {
	local id=$1 pid
	pid=$(qemu_pid "$id") || return 1
	[ "$(readlink "/proc/$pid/ns/net")" != "net:[$(stat -L -c %i "/run/netns/$NS_LAB")]" ] || return 0
	say "restarting $id: it runs in an older $NS_LAB namespace"
	stop_pid "$pid"
	return 1
}

cmd_up() {
	local id starting=()
	[ $# -eq 0 ] || die "up takes no arguments"
	prepare_dir
	lock
	need_base_lab
	ensure_socat
	write_ifup
	for id in "${ALL[@]}"; do
		running_here "$id" || starting+=("$id")
	done
	if [ ${#starting[@]} -gt 0 ]; then
		say "starting ${starting[*]}"
		boot_guests "${starting[@]}"
	else
		say "all ${#ALL[@]} guests already running"
	fi
	write_env
	say "QEMU lab up: sockets in $RUN, configs in $PVE"
	echo "VMCHECK_QEMU_LAB_RUN=$RUN"
}

stop_holder() {
	local f=$STATE/hold.$1.pid pid
	pid=$(cat "$f" 2>/dev/null) || return 0
	rm -f "$f"
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = socat ] || return 0
	stop_pid "$pid"
}

cmd_down() {
	local id pid
	[ $# -eq 0 ] || die "down takes no arguments"
	if [ ! -d "$QDIR" ]; then
		say "nothing to do"
		return 0
	fi
	[ -e "$QDIR/.vmcheck-qemu-lab" ] || die "$QDIR is not a vmcheck QEMU lab dir"
	lock
	for id in "${ALL[@]}"; do
		stop_holder "$id"
		if pid=$(qemu_pid "$id"); then
			say "stopping QEMU $pid ($id)"
			stop_pid "$pid"
		fi
	done
	stop_twin
	node2_stop
	rm -rf "${RUN:?}" "${PVE:?}" "${CONSOLE:?}" "${STATE:?}" "$QDIR/env"
	say "QEMU lab down"
}

# Stops the twin (by the pid it recorded, after checking it is ours) and removes its dir.
stop_twin() {
	local pid
	if pid=$(qemu_pid "$TWIN_ID"); then
		say "stopping QEMU $pid (twin $TWIN_ID)"
		stop_pid "$pid"
	fi
	rm -rf "${TWIN:?}"
}

cmd_twin() {
	local sub=${1:-}
	[ $# -le 1 ] || die "usage: lab/qemu.sh twin up|down|status"
	case $sub in
	up)
		prepare_dir
		lock
		need_base_lab
		ensure_socat
		write_ifup
		mkdir -p "$TWIN"
		if running_here "$TWIN_ID"; then
			say "twin $TWIN_ID already running"
		else
			say "starting twin $TWIN_ID (UUID of $TWIN_OF: $(smbios_uuid_of "$TWIN_ID"))"
			start_guest "$TWIN_ID"
			wait_guests "$TWIN_ID"
		fi
		echo "VMCHECK_QEMU_LAB_TWIN=$TWIN"
		;;
	down)
		if [ ! -e "$QDIR/.vmcheck-qemu-lab" ]; then
			say "nothing to do"
			return 0
		fi
		lock
		stop_twin
		say "twin down"
		;;
	status) status_line "$TWIN_ID" ;;
	*) die "usage: lab/qemu.sh twin up|down|status" ;;
	esac
}

status_line() {
	local id=$1 pid st=- chr=-
	if pid=$(qemu_pid "$id"); then
		st=$(qmp "$id" '{"execute":"query-status"}' | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
		chr=$(qmp "$id" '{"execute":"query-chardev"}' | grep -o '"frontend-open": [a-z]*, "filename": "[^"]*qga[^"]*"' || true)
	else
		pid=-
	fi
	printf '%-6s %-13s %-8s %-10s %s\n' "$id" "${G_NAME[$id]}" "$pid" "${st:--}" "${chr:--}"
}

cmd_status() {
	local id
	echo "lab dir: $QDIR"
	printf '%-6s %-13s %-8s %-10s %s\n' VMID NAME PID STATUS AGENT-CHARDEV
	for id in "${ALL[@]}"; do status_line "$id"; done
	# The twin only when it runs (lab/qemu.sh twin up).
	if qemu_pid "$TWIN_ID" >/dev/null; then status_line "$TWIN_ID"; fi
}

need_up() {
	[ -e "$QDIR/.vmcheck-qemu-lab" ] || die "no QEMU lab at $QDIR (run: lab/qemu.sh up)"
	is_guest "${1:-}" || die "unknown VMID '${1:-}' (known: ${ALL[*]})"
}

cmd_fault() {
	local f=${1:-} id=${2:-} secs=${3:-} pid
	[ -n "$f" ] || die "usage: lab/qemu.sh fault NAME VMID [SECONDS]"
	need_up "$id"
	case $f in
	pause)
		qemu_pid "$id" >/dev/null || die "$id is not running"
		qmp "$id" '{"execute":"stop"}' >/dev/null
		say "paused $id"
		;;
	resume)
		qemu_pid "$id" >/dev/null || die "$id is not running"
		qmp "$id" '{"execute":"cont"}' >/dev/null
		say "resumed $id"
		;;
	hold-agent)
		[[ $secs =~ ^[0-9]+$ ]] || die "hold-agent needs SECONDS"
		stop_holder "$id"
		socat "UNIX-CONNECT:$RUN/$id.qga" "SYSTEM:sleep $secs" 9>&- </dev/null >/dev/null 2>&1 &
		echo $! >"$STATE/hold.$id.pid"
		sleep 0.3
		say "agent socket of $id held by socat $! for ${secs}s"
		;;
	release-agent)
		stop_holder "$id"
		say "agent socket of $id released"
		;;
	freeze-agent)
		[[ $secs =~ ^[0-9]+$ ]] || die "freeze-agent needs SECONDS"
		ensure_socat
		printf '\xff{"execute":"guest-sync-delimited","arguments":{"id":1}}\n{"execute":"guest-exec","arguments":{"path":"/bin/busybox","arg":["sh","-c","sleep 1; killall -STOP qemu-ga; sleep %d; killall -CONT qemu-ga"]}}\n' "$secs" |
			timeout 10 socat -t 1 - "UNIX-CONNECT:$RUN/$id.qga,shut-none" | grep -aq '"pid"' || die "guest-exec in $id failed"
		say "agent of $id stops in 1s, for ${secs}s"
		;;
	kill)
		pid=$(qemu_pid "$id") || die "$id is not running"
		kill_qemu "$id" "$pid"
		say "killed QEMU $pid of $id (its sockets stay behind)"
		;;
	start)
		qemu_pid "$id" >/dev/null && die "$id is already running"
		need_base_lab
		lock
		start_guest "$id"
		wait_guests "$id"
		post_boot "$id"
		;;
	*) die "unknown fault '$f' (pause resume hold-agent release-agent freeze-agent kill start)" ;;
	esac
}

# kill_qemu VMID PID: SIGKILL, then wait until the QEMU is gone. Until every thread has
# exited, its listening sockets still take connections into their backlog. (A zombie has
# closed them.)
kill_qemu() {
	local id=$1 pid=$2
	kill -KILL "$pid"
	for _ in $(seq 1 600); do
		if [ ! -d "/proc/$pid" ] || [ "$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = Z ]; then return 0; fi
		sleep 0.05
	done
	die "QEMU $pid of $id has not exited 30 s after SIGKILL"
}

# ---------------------------------------------------------------- node two

# Node two's bridge in the lab namespace, up, with its gateway address (idempotent).
node2_bridge() {
	if ! ip -n "$NS_LAB" link show "$BR_N2" >/dev/null 2>&1; then
		ip -n "$NS_LAB" link add "$BR_N2" type bridge stp_state 0 forward_delay 0
		ip -n "$NS_LAB" link set "$BR_N2" address 52:54:00:0c:ff:92
	fi
	ip -n "$NS_LAB" addr replace "$N2_GW4/$N2_LEN" dev "$BR_N2"
	ip -n "$NS_LAB" link set "$BR_N2" up
}

# node2_link VMID up|down: QMP set_link of net0 and link_down=1 in the config, as Proxmox VE
# applies "qm set VMID --net0 ...,link_down=1".
node2_link() {
	local id=$1 up=true ld=''
	[ "$2" = up ] || up=false ld=1
	write_conf "$id" "$ld"
	qmp "$id" "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"net0\",\"up\":$up}}" | grep -q '"return"' ||
		die "QMP set_link on $id failed"
}

node2_up() {
	local id starting=()
	prepare_dir
	lock
	need_base_lab
	ensure_socat
	write_ifup
	mkdir -p "$N2/run" "$N2/pve" "$N2/console"
	node2_bridge
	for id in "${N2_ALL[@]}"; do
		if running_here "$id"; then
			node2_link "$id" up
		else
			starting+=("$id")
		fi
	done
	if [ ${#starting[@]} -gt 0 ]; then
		say "node two: starting ${starting[*]}"
		boot_guests "${starting[@]}"
	fi
	say "node two up: sockets in $N2/run, configs in $N2/pve, bridge $BR_N2 ($N2_GW4/$N2_LEN)"
	echo "VMCHECK_QEMU_NODE2_RUN=$N2/run"
}

# Stops node two's guests by pid and removes its folder and bridge.
node2_stop() {
	local id pid
	for id in "${N2_ALL[@]}"; do
		if pid=$(qemu_pid "$id"); then
			say "stopping QEMU $pid ($id, node two)"
			stop_pid "$pid"
		fi
	done
	rm -rf "${N2:?}"
	if [ -e "/run/netns/$NS_LAB" ] && ip -n "$NS_LAB" link show "$BR_N2" >/dev/null 2>&1; then
		ip -n "$NS_LAB" link del "$BR_N2"
	fi
}

node2_need() {
	is_node2 "${1:-}" || die "unknown node two VMID '${1:-}' (known: ${N2_ALL[*]})"
	qemu_pid "$1" >/dev/null || die "$1 is not running (lab/qemu.sh node2 up)"
}

cmd_node2() {
	local sub=${1:-} id=${2:-} pid
	case $sub in
	up | down | status | cut | restore) [ $# -eq 1 ] || die "usage: lab/qemu.sh node2 $sub" ;;
	link-down | link-up | delete) [ $# -eq 2 ] || die "usage: lab/qemu.sh node2 $sub VMID" ;;
	esac
	case $sub in
	up) node2_up ;;
	down)
		[ -e "$QDIR/.vmcheck-qemu-lab" ] || { say "nothing to do" && return 0; }
		lock
		node2_stop
		say "node two down"
		;;
	status) for id in "${N2_ALL[@]}"; do status_line "$id"; done ;;
	cut | restore)
		ip -n "$NS_LAB" link show "$BR_N2" >/dev/null 2>&1 || die "no bridge $BR_N2 (lab/qemu.sh node2 up)"
		if [ "$sub" = cut ]; then
			ip -n "$NS_LAB" link set "$BR_N2" down
			say "node two's network $BR_N2 cut (bridge down: its VMs lose their gateway $N2_GW4)"
		else
			node2_bridge
			say "node two's network $BR_N2 restored"
		fi
		;;
	link-down | link-up)
		node2_need "$id"
		node2_link "$id" "${sub#link-}"
		say "$id: net0 link ${sub#link-} (QMP set_link, link_down in its config)"
		;;
	delete)
		node2_need "$id"
		lock
		pid=$(qemu_pid "$id")
		kill_qemu "$id" "$pid"
		rm -f "$N2/run/$id.qmp" "$N2/run/$id.qga" "$N2/run/$id.pid" "$N2/pve/$id.conf"
		say "deleted $id: QEMU $pid killed, its sockets and config removed"
		;;
	*) die "usage: lab/qemu.sh node2 up|down|status|cut|restore|link-down VMID|link-up VMID|delete VMID" ;;
	esac
}

usage() { sed -n '2,/^$/p' "$SELF" | sed -n '/^#/p' | sed 's/^# \{0,1\}//'; }

main() {
	local cmd=${1:-}
	[ $# -eq 0 ] || shift
	case $cmd in
	up | down | status | fault | twin | node2) check_dir ;;
	esac
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status ;;
	qmp)
		need_up "${1:-}"
		qmp "$1" "${2:?qmp needs JSON}"
		;;
	fault) cmd_fault "$@" ;;
	twin) cmd_twin "$@" ;;
	node2) cmd_node2 "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
