package lab

// SilenceMLD drops every MLD report and done host sends (MLDv1 131 and
// 132, MLDv2 143 behind the 8-byte Hop-by-Hop header Linux puts before
// them) and nothing else, its neighbour discovery included: a guest that
// never answers MLD, as some appliances and VM images are. Classic BPF at
// tc egress: ethertype IPv6, next header Hop-by-Hop, ICMPv6 type at 62 ->
// drop (2), else 0.
func (l *Lab) SilenceMLD(h Host) error {
	const dropMLD = "10,40 0 0 12,21 0 7 34525,48 0 0 20,21 0 5 0,48 0 0 62," +
		"21 2 0 143,21 1 0 131,21 0 1 132,6 0 0 2,6 0 0 0"
	if err := l.Run(h.Name, "tc", "qdisc", "add", "dev", "eth0", "clsact"); err != nil {
		return err
	}
	return l.Run(h.Name, "tc", "filter", "add", "dev", "eth0", "egress", "bpf", "da", "bytecode", dropMLD)
}
