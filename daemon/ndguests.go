package daemon

import "go.uber.org/zap"

// followND makes a port's socket read neighbour discovery exactly when
// the port's policy learns its guests from it (nd_guests): other ports'
// ND would cost a read and a decode per frame for nothing. on is what the
// policy says, was what the socket was set to. A socket that cannot be set
// is logged: its port then learns nothing from ND, as it would without the
// option.
func (s *portSet) followND(p *portIO, on, was bool) {
	if p == nil {
		return
	}
	if on == was {
		return
	}
	if err := p.conn.SetND(on); err != nil {
		s.log.Warn("cannot set the port's socket to read neighbour discovery", zap.String("port", p.link.Name), zap.Bool("nd_guests", on), zap.Error(err))
		return
	}
	s.log.Info("neighbour discovery read", zap.String("port", p.link.Name), zap.Bool("on", on))
}
