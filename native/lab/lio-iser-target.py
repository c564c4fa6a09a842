#!/usr/bin/python3
"""Sets up or tears down a Linux LIO iSCSI target with an iSER portal, for the lab guest's interop tests.

  lio-iser-target.py setup    --iqn IQN --address ADDR [--address ADDR2 ...] [--port 3260] [--size-mb 64]
                              [--name lio_iser_ram] [--tcp] [--erl N] [--time2wait S] [--time2retain S]
  lio-iser-target.py teardown --iqn IQN [--name lio_iser_ram]

setup: a RAM disk backstore (rd_mcp, part of target_core_mod), target IQN with TPG 1 enabled in demo mode
(generated node ACLs, no authentication, writable), LUN 0 on the RAM disk, and one network portal ADDR:PORT per
--address with iSER switched on (ib_isert). teardown deletes exactly what setup made; it succeeds when nothing is
left to delete.
Options for iSCSI over TCP tests: --tcp leaves iSER off on the portals (plain iSCSI over TCP); --erl N sets the
ErrorRecoveryLevel LIO grants (the TPG parameter and the TPG attribute default_erl, which LIO answers a leading login
with; both default to 0); --time2wait / --time2retain set the TPG's DefaultTime2Wait / DefaultTime2Retain (seconds).
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
    # LIO answers a leading login's ErrorRecoveryLevel with the node ACL's default_erl (in demo mode the TPG attribute
    # default_erl, 0 unless set), whatever the TPG's ErrorRecoveryLevel parameter says; so both are set.
    if args.erl is not None:
        tpg.set_attribute("default_erl", str(args.erl))
        print(f"tpg 1 attribute default_erl={args.erl}")
    # Login keys the TPG offers and accepts (configfs tpgt_1/param); LIO negotiates within them.
    for key, value in (("ErrorRecoveryLevel", args.erl), ("DefaultTime2Wait", args.time2wait),
                       ("DefaultTime2Retain", args.time2retain)):
        if value is not None:
            tpg.set_parameter(key, str(value))
            if tpg.get_parameter(key) != str(value):
                raise RTSLibError(f"the TPG's {key} is {tpg.get_parameter(key)}, not {value}")
            print(f"tpg 1 {key}={value}")
    LUN(tpg, 0, storage)
    for address in args.address:
        portal = NetworkPortal(tpg, address, args.port)
        if not args.tcp:
            portal.iser = True
            if not portal.iser:
                raise RTSLibError(f"the portal {address}:{args.port} did not switch to iSER (is ib_isert loaded?)")
        print(f"target {args.iqn} tpg 1 lun 0 portal {address}:{args.port} iser={portal.iser}")
    tpg.enable = True


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
    parser.add_argument("--address", action="append", help="a portal address; repeat for more portals")
    parser.add_argument("--port", type=int, default=3260)
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--name", default="lio_iser_ram")
    parser.add_argument("--tcp", action="store_true", help="plain iSCSI over TCP: leave iSER off on the portals")
    parser.add_argument("--erl", type=int, choices=[0, 1, 2], help="the ErrorRecoveryLevel LIO grants (LIO's default: 0)")
    parser.add_argument("--time2wait", type=int, help="the TPG's DefaultTime2Wait in seconds")
    parser.add_argument("--time2retain", type=int, help="the TPG's DefaultTime2Retain in seconds")
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
