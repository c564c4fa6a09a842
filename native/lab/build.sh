#!/usr/bin/env bash
# Builds (once) the soft-RoCE lab guest: Debian's own kernel plus a busybox initramfs that
# carries rdma_rxe, the iSCSI/iSER initiator and target modules, 9p and a packet filter.
# The guest later chroots into this machine's root (shared read-only over 9p), so nothing
# but the kernel and its modules has to be built here.
#
# Output (printed as the last line): the cache directory holding vmlinuz, initrd.img, kver.
# Environment:
#   LAB_CACHE          cache root (default: <repo>/.lab-cache)
#   LAB_KERNEL_PACKAGE versioned kernel package to use (default: what linux-image-amd64 depends on)
#   LAB_SKIP_APT=1     never call apt-get install (the packages must be there already)
#   LAB_REBUILD=1      rebuild the initramfs even when the cache looks complete
#   LAB_REFRESH=1      ask apt for the current kernel package instead of reusing any cached guest
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
cache_root=${LAB_CACHE:-$repo/.lab-cache}

log() { printf 'lab-build: %s\n' "$*" >&2; }
die() { printf 'lab-build: error: %s\n' "$*" >&2; exit 1; }
# Any command that fails under set -e says which one and where, so no failure is silent.
trap 'status=$?; printf "lab-build: error: line %s: \"%s\" failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$status" >&2' ERR

# Host tools the build and the guest need. The guest runs this machine's binaries through the
# chroot, so rdma-core, perftest and the packet-filter tools have to be installed here.
host_packages=(
  qemu-system-x86 busybox-static kmod cpio gzip iproute2
  rdma-core ibverbs-utils rdmacm-utils perftest ibverbs-providers libibverbs1 librdmacm1
  libibverbs-dev librdmacm-dev nftables iptables
  open-iscsi sg3-utils multipath-tools fio udev
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_host_packages() {
  local missing=() installed
  # dpkg-query exits 1 when any named package is unknown to dpkg (never installed): that is the case to handle,
  # not a failure, so its status is ignored and only the "install ok installed" lines count.
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${host_packages[@]}" 2>/dev/null | awk '/install ok installed/ { print $1 }' || true)
  for p in "${host_packages[@]}"; do
    grep -qx "$p" <<< "$installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "${LAB_SKIP_APT:-0}" = 1 ] && die "missing host packages (LAB_SKIP_APT=1): ${missing[*]}"
  log "installing host packages: ${missing[*]}"
  # Other jobs on this machine may hold the dpkg lock; wait for it instead of failing.
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq || die "apt-get update failed (needed to install: ${missing[*]})"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends "${missing[@]}" >&2 || die "apt-get install failed for the lab's host packages: ${missing[*]}"
}

# The real, versioned package behind the linux-image-amd64 metapackage, e.g. linux-image-6.1.0-56-amd64.
resolve_kernel_package() {
  if [ -n "${LAB_KERNEL_PACKAGE:-}" ]; then echo "$LAB_KERNEL_PACKAGE"; return; fi
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# Modules the guest loads at boot, in load order. Each is copied with its dependency closure.
# crc32_generic must precede rdma_rxe ("failed to init crc32 algorithm"); crc32c_generic is
# what the kernel iSCSI target asks for at login (crypto_alloc_ahash).
boot_modules=(
  crc32_generic crc32c_generic libcrc32c
  virtio_pci virtio_console 9pnet_virtio 9p overlay configfs
  dummy veth
  ib_core ib_uverbs ib_umad rdma_cm rdma_ucm rdma_rxe
  scsi_mod sd_mod iscsi_tcp ib_iser
  dm_mod dm_multipath dm_round_robin dm_service_time scsi_dh_alua
  target_core_mod target_core_file target_core_iblock iscsi_target_mod ib_isert
  nfnetlink nf_tables nft_compat nft_reject_inet nft_ct nft_numgen nft_limit
  x_tables ip_tables iptable_filter ip6_tables ip6table_filter xt_tcpudp xt_conntrack xt_statistic
  sch_netem
)

scripts_hash=$(sha256sum "$script_dir/build.sh" "$script_dir/guest-init.sh" "$script_dir/guest-wire.sh" | sha256sum | cut -c1-16)

# Fast path for run.sh: a complete guest built by these very scripts is reused without asking
# apt (LAB_REFRESH=1, as the CI snippet sets, checks for a newer Debian kernel first).
if [ "${LAB_REFRESH:-0}" != 1 ] && [ "${LAB_REBUILD:-0}" != 1 ] && [ -z "${LAB_KERNEL_PACKAGE:-}" ]; then
  for d in $(ls -td "$cache_root"/*/ 2>/dev/null || true); do
    d=${d%/}
    if [ -f "$d/vmlinuz" ] && [ -f "$d/initrd.img" ] && [ -f "$d/stamp" ] && [ "$(awk '{ print $3 }' "$d/stamp")" = "$scripts_hash" ]; then
      [ "${LAB_QUIET:-0}" = 1 ] || log "cached guest: $d"
      echo "$d"; exit 0
    fi
  done
fi

install_host_packages

kpkg=$(resolve_kernel_package)
if [ -z "$kpkg" ]; then
  # Offline: fall back to whatever kernel is already cached.
  existing=$(ls -d "$cache_root"/*/initrd.img 2>/dev/null | head -n1 || true)
  [ -n "$existing" ] || die "cannot resolve linux-image-amd64 (apt-get update?) and no cached guest"
  log "apt-cache could not resolve the kernel; using cached $(dirname "$existing")"
  dirname "$existing"; exit 0
fi
kver=${kpkg#linux-image-}
kpkg_version=$(apt-cache policy "$kpkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
out=$cache_root/$kver
stamp="$kpkg $kpkg_version $scripts_hash"

if [ "${LAB_REBUILD:-0}" != 1 ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] \
   && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
  [ "${LAB_QUIET:-0}" = 1 ] || log "cached guest up to date: $out"
  echo "$out"; exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"   # apt-get download drops privileges to _apt and needs to write here

deb=$(ls "$out"/"${kpkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  log "downloading $kpkg $kpkg_version"
  (cd "$work" && chmod 0777 . && apt-get download -q "$kpkg" >&2)
  deb=$(ls "$work"/"${kpkg}"_*.deb | head -n1)
  rm -f "$out"/*.deb
  mv "$deb" "$out/"
  deb=$out/$(basename "$deb")
fi

log "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/kernel"
kroot=$work/kernel
[ -d "$kroot/lib/modules/$kver" ] || die "package $kpkg has no lib/modules/$kver"
depmod -b "$kroot" "$kver"
moddir=$kroot/lib/modules/$kver
cfg=$kroot/boot/config-$kver

# --- initramfs tree ------------------------------------------------------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,sbin,dev,proc,sys,host,ctl,etc,lib/modules/"$kver"}
cp /bin/busybox "$ird/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ird/bin/$applet"
done
# The kernel's request_module() runs /sbin/modprobe in the initramfs root (PID 1 never chroots).
ln -sf ../bin/busybox "$ird/sbin/modprobe"

# Resolve a module name (dashes and underscores are interchangeable) to its modules.dep line.
dep_line() {
  local name=${1//-/_}
  awk -v n="$name" -F: '{
      f = $1; sub(/.*\//, "", f); sub(/\.ko(\.[a-z]+)?$/, "", f); gsub(/-/, "_", f)
      if (f == n) { print; exit }
    }' "$moddir/modules.dep"
}
# No "producer | grep -q" under pipefail: grep leaving at the first match can kill the producer
# with SIGPIPE, and pipefail turns that into a false "not found" (seen in CI for rdma_ucm).
builtin_module() {
  local name=${1//-/_}
  grep -qx "$name" < <(sed 's|.*/||; s|\.ko$||; s|-|_|g' "$moddir/modules.builtin")
}
in_list() {
  local wanted=$1 item; shift
  for item in "$@"; do [ "$item" = "$wanted" ] && return 0; done
  return 1
}

load_list=()
missing_modules=()
for m in "${boot_modules[@]}"; do
  line=$(dep_line "$m")
  if [ -z "$line" ]; then
    if builtin_module "$m"; then log "module $m is built into the kernel"; else missing_modules+=("$m"); fi
    continue
  fi
  for f in ${line/:/ }; do
    mkdir -p "$ird/lib/modules/$kver/$(dirname "$f")"
    cp -n "$moddir/$f" "$ird/lib/modules/$kver/$f"
  done
  load_list+=("$m")
done
[ ${#missing_modules[@]} -eq 0 ] || log "not in this kernel (skipped): ${missing_modules[*]}"
for required in rdma_rxe ib_uverbs rdma_ucm 9p 9pnet_virtio dummy crc32_generic; do
  in_list "$required" "${load_list[@]}" || die "kernel $kver lacks required module $required"
done
cp "$moddir"/modules.builtin "$moddir"/modules.builtin.modinfo "$moddir"/modules.order "$ird/lib/modules/$kver/"
depmod -b "$ird" "$kver"
printf '%s\n' "${load_list[@]}" > "$ird/etc/lab-modules"
echo "$kver" > "$ird/etc/lab-kver"
install -m 0755 "$script_dir/guest-init.sh" "$ird/init"
install -m 0644 "$script_dir/guest-wire.sh" "$ird/etc/lab-wire.sh"

log "packing initramfs ($(du -sh "$ird" | cut -f1) unpacked)"
(cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) > "$work/initrd.img"

cp "$kroot/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$cfg" "$work/config"
mv "$work/vmlinuz" "$work/initrd.img" "$work/config" "$out/"
echo "$kver" > "$out/kver"
printf '%s\n' "${load_list[@]}" > "$out/modules"
echo "$stamp" > "$out/stamp"
log "guest ready: $out"
echo "$out"
