package snoop

// Ignored returns the ignore counters by reason, as Stats names them,
// without the rest of a Stats snapshot, whose per-port part costs a map
// per port: cheap enough to compare around every message, as replay does
// to say what a frame was ignored for.
func (e *Engine) Ignored() map[string]uint64 {
	out := make(map[string]uint64, ignoreCount)
	for i, n := range ignoreNames {
		out[n] = e.stats.ignored[i]
	}
	return out
}
