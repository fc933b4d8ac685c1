package checker

// Backends: the hypervisor APIs a Source may speak, as logs and the
// backend label of vmcheck_source_up name them.
const (
	// BackendLibvirt is a libvirt host (package libvirthost).
	BackendLibvirt = "libvirt"
	// BackendQEMU is a host running QEMU without libvirt, Proxmox VE
	// included (package qemuhost).
	BackendQEMU = "qemu"
)

// Backend names the backend the config selects: BackendQEMU when it names
// QEMU sockets (qemu_dir, qemu_vms, --qemu-dir), else BackendLibvirt.
func (c Config) Backend() string {
	if c.QEMU() {
		return BackendQEMU
	}
	return BackendLibvirt
}
