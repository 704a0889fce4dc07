// Package wire turns Ethernet frames into validated IGMP and MLD messages
// (and the PIM hellos and MRD messages that reveal multicast routers) and
// builds the query, report and MRD solicitation frames the daemon sends.
//
// It has no Linux imports: it works on byte slices, so every decoder is
// testable and fuzzable anywhere. Each refusal has a named Reason so callers
// can count it (RFC 4541 C6: never learn from, and never forward, a frame
// that failed validation).
package wire
