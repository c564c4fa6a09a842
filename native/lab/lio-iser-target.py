#!/usr/bin/python3
"""Sets up or tears down a Linux LIO iSCSI target with an iSER portal, for the lab guest's interop tests.

  lio-iser-target.py setup    --iqn IQN --address ADDR [--port 3260] [--size-mb 64] [--name lio_iser_ram]
  lio-iser-target.py teardown --iqn IQN [--name lio_iser_ram]

setup: a RAM disk backstore (rd_mcp, part of target_core_mod), target IQN with TPG 1 enabled in demo mode
(generated node ACLs, no authentication, writable), LUN 0 on the RAM disk, and one network portal ADDR:PORT with
iSER switched on (ib_isert). teardown deletes exactly what setup made; it succeeds when nothing is left to delete.
Uses python3-rtslib-fb, which needs configfs mounted at /sys/kernel/config (the lab's /init does that).
Prints one line per step; exits 1 with the reason on stderr when a step fails.
"""
import argparse
import os
import sys

from rtslib_fb import (LUN, TPG, FabricModule, NetworkPortal, RDMCPStorageObject, RTSRoot, Target)
from rtslib_fb.utils import RTSLibError

# rtslib points the kernel's target database root (ALUA and persistent-reservation state) at /etc/rtslib-fb-target
# and refuses to run when it cannot; the guest sees /etc read-only and without that directory, so use tmpfs.
DBROOT = "/run/rtslib-fb-target"
os.makedirs(DBROOT, exist_ok=True)
RTSRoot._preferred_dbroot = DBROOT


def setup(args):
    # Start clean: a previous run in the same guest may have been killed half way.
    teardown(args)
    storage = RDMCPStorageObject(args.name, size=args.size_mb * 1024 * 1024)
    print(f"backstore rd_mcp/{args.name}: {args.size_mb} MiB")
    target = Target(FabricModule("iscsi"), args.iqn)
    tpg = TPG(target, 1)
    # Demo mode: any initiator name may log in, with no CHAP and write access.
    tpg.set_attribute("generate_node_acls", "1")
    tpg.set_attribute("cache_dynamic_acls", "1")
    tpg.set_attribute("authentication", "0")
    tpg.set_attribute("demo_mode_write_protect", "0")
    LUN(tpg, 0, storage)
    portal = NetworkPortal(tpg, args.address, args.port)
    portal.iser = True
    if not portal.iser:
        raise RTSLibError(f"the portal {args.address}:{args.port} did not switch to iSER (is ib_isert loaded?)")
    tpg.enable = True
    print(f"target {args.iqn} tpg 1 lun 0 portal {args.address}:{args.port} iser={portal.iser}")


def teardown(args):
    root = RTSRoot()
    for target in list(root.targets):
        if target.wwn == args.iqn:
            target.delete()
            print(f"deleted target {args.iqn}")
    for storage in list(root.storage_objects):
        if isinstance(storage, RDMCPStorageObject) and storage.name == args.name:
            storage.delete()
            print(f"deleted backstore rd_mcp/{args.name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["setup", "teardown"])
    parser.add_argument("--iqn", required=True)
    parser.add_argument("--address")
    parser.add_argument("--port", type=int, default=3260)
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--name", default="lio_iser_ram")
    args = parser.parse_args()
    try:
        if args.action == "setup":
            if not args.address:
                parser.error("setup needs --address")
            setup(args)
        else:
            teardown(args)
    except (RTSLibError, OSError) as e:
        print(f"LIO {args.action} failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
