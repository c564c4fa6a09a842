#!/bin/sh
# /init of the soft-RoCE lab guest (busybox). Loads the modules, mounts this machine's root
# (9p, read-only) at /host, lays tmpfs and the read-write shares over it, creates the rxe link
# on dummy0 and runs the job from the control share inside a chroot. PID 1 itself never
# chroots, so the kernel's request_module() keeps finding /sbin/modprobe in the initramfs.
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

say() { echo "lab-init: $*"; }
finish() {
  # $1: exit code to report. Keep the kernel log next to the results, then power off.
  dmesg > "$ctl/dmesg" 2>/dev/null
  echo "$1" > "$ctl/rc"
  sync
  [ -n "$work" ] && umount "/host$work" 2>/dev/null
  umount "$ctl" 2>/dev/null
  poweroff -f
  sleep 5; echo o > /proc/sysrq-trigger
}
fail() { say "setup failed: $*"; echo "lab-init: setup failed: $*" > "$ctl/setup-error" 2>/dev/null; finish 125; }

ctl=/ctl
work=
for m in $(cat /etc/lab-modules); do
  modprobe "$m" 2>&1 || say "modprobe $m failed"
done

# Control share: job script in, exit code and logs out.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none ctl /ctl || fail "cannot mount the control share"
# This machine's root, read-only. cache=loose: it does not change under a run, and dotnet
# start-up reads thousands of files.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro host /host || fail "cannot mount the host root"

mount -t proc proc /host/proc || fail "mount /proc"
mount -t sysfs sysfs /host/sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /host/dev || fail "mount /dev"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t configfs configfs /host/sys/kernel/config 2>/dev/null
for d in tmp root run; do
  mount -t tmpfs -o mode=0755 tmpfs "/host/$d" || fail "tmpfs on /$d"
done
chmod 1777 /host/tmp
mkdir -p /host/run/lab /host/run/lock
mount --move /ctl /host/run/lab || fail "cannot move the control share"
ctl=/host/run/lab

# The read-write work share (normally the repository) goes over its own path, so the caller's
# paths mean the same thing inside.
work=$(cat $ctl/work 2>/dev/null)
if [ -n "$work" ]; then
  mkdir -p "/host$work" 2>/dev/null
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap work "/host$work" \
    || fail "cannot mount the work share at $work"
fi

# Output ports: virtio-serial ports named lab.stdout / lab.stderr carry the job's streams.
out=/dev/null; err=/dev/null
for p in /sys/class/virtio-ports/*; do
  [ -e "$p/name" ] || continue
  case "$(cat "$p/name")" in
    lab.stdout) out=/dev/$(basename "$p") ;;
    lab.stderr) err=/dev/$(basename "$p") ;;
  esac
done

# The RDMA link: rxe over a dummy device, 169.254.10.1 (rdma_cm cannot route over lo).
hostname lab
chroot /host ip link set lo up
# The dummy module creates dummy0 itself (numdummies=1).
[ -e /sys/class/net/dummy0 ] || chroot /host ip link add dummy0 type dummy || fail "cannot create dummy0"
chroot /host ip link set dummy0 up
chroot /host ip addr add 169.254.10.1/24 dev dummy0
chroot /host rdma link add rxe0 type rxe netdev dummy0 || fail "rdma link add rxe0 failed"
# The wire: rxe_wire0 169.254.11.1 <-> rxe_wire1 169.254.11.2 over a veth pair (see the script).
chroot /host /bin/sh -s < /etc/lab-wire.sh || fail "setting up the wire (veth + rxe_wire0/1) failed"

chroot /host /bin/bash /run/lab/job </dev/null >"$out" 2>"$err"
finish $?
