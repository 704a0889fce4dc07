package bridge

import "fmt"

// SetND makes the socket read the neighbour discovery arriving on the port
// too (router and neighbour solicitations and advertisements), or stop
// reading it: for ports whose guests never send MLD, whose addresses the
// daemon learns from their ND. The kernel swaps the filter at once; frames
// already queued stay.
func (c *PortConn) SetND(on bool) error {
	filter, err := portFilterND(on)
	if err != nil {
		return fmt.Errorf("port %d: assemble filter: %w", c.ifindex, err)
	}
	if err := c.conn.SetBPF(filter); err != nil {
		return fmt.Errorf("port %d: set filter (neighbour discovery %t): %w", c.ifindex, on, err)
	}
	return nil
}
