package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// The observers read the kernel's bridge state through iproute2's JSON
// output, not through the daemon's own netlink code, so a test that
// checks what the daemon made the kernel do does not check that code with
// itself.

// PortRouterMode returns the mcast_router setting of bridge port port in
// the switch namespace (`bridge -j -d link show dev PORT`): 0 disabled, 1
// learned from queries, 2 permanent, 3 temporary.
func (l *Lab) PortRouterMode(port string) (int, error) {
	var links []struct {
		Name        string `json:"ifname"`
		McastRouter *int   `json:"mcast_router"`
	}
	if err := l.jsonOf(l.Switch, &links, "bridge", "-j", "-d", "link", "show", "dev", port); err != nil {
		return 0, err
	}
	for _, k := range links {
		if k.Name == port && k.McastRouter != nil {
			return *k.McastRouter, nil
		}
	}
	return 0, fmt.Errorf("bridge link show dev %s: no mcast_router for %s in %+v", port, port, links)
}

// RouterPorts returns, sorted, the ports the kernel's bridge br in the
// switch namespace counts as multicast router ports (`bridge -j -d mdb
// show dev BR`: iproute2 lists them only with -d), learned or set. It does
// not say for which family.
func (l *Lab) RouterPorts(br string) ([]string, error) {
	var dump []struct {
		Router map[string][]struct {
			Port string `json:"port"`
		} `json:"router"`
	}
	if err := l.jsonOf(l.Switch, &dump, "bridge", "-j", "-d", "mdb", "show", "dev", br); err != nil {
		return nil, err
	}
	var ports []string
	for _, d := range dump {
		for _, r := range d.Router[br] {
			ports = append(ports, r.Port)
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}

// jsonOf runs a command inside namespace ns and decodes its standard
// output, alone, as JSON into v.
func (l *Lab) jsonOf(ns string, v any, name string, args ...string) error {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	what := name + " " + strings.Join(args, " ")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", what, ns, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s in %s: %w: %q", what, ns, err, stdout.String())
	}
	return nil
}
