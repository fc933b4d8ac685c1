// Package hostnic reads the host side of a VM's NIC, one file per way a
// NIC is plugged on a KVM node (model.HostKind*): a tap in a Linux
// bridge, behind a Proxmox VE firewall bridge or on an Open vSwitch bridge
// (OVN named where it binds the port), a macvtap on its lower device, a
// vhost-user socket (OVS-DPDK), an SR-IOV VF. Each kind registers its
// inspection; the backends (libvirthost, qemuhost) describe a NIC as a NIC
// and get a model.HostInspector from Options.Inspector. The engine calls
// it only after a check failed.
//
// The config file's ovsdb key (and --ovsdb) is this package's section
// (Settings, Section): a setting of the host-side reads, not of a backend.
//
// What each kind reads, the causes and their remedies are the kind's own:
// the engine only orders the causes. A kind whose host side vmcheck cannot
// read here (not in the taps' network namespace, no OVSDB access, the PF
// not visible) says so (Known false) and never names a host cause.
//
// Open vSwitch is read with ovs-vsctl (--format=json, read-only find/list
// commands, a bounded --timeout and the context's deadline, argv of
// validated names, output capped), not an OVSDB client library: one fork
// only after a failure, nothing held open, the OVSDB remote is the one
// ovs-vsctl users know (--db). Measured on Open vSwitch 3.1 here
// (BenchmarkLiveOVS): 5.1–6.0 ms and 65 KB allocated in vmcheck per read,
// the ovs-vsctl child peaking at 6.5 MB RSS; github.com/ovn-org/libovsdb
// v0.7.0 would add 0.7 MB to the binary and 30 modules to the build, a
// hand-kept model of the schema, and take 4–14 ms for connect, schema and
// select in a 12.5 MB probe process: no gain for a read done only when a
// check failed. SR-IOV VFs are read from `ip link show dev
// PF`, the command the operator reruns, in its text form, which has been
// stable since VF link-state (2013); a PF's state from sysfs.
package hostnic
