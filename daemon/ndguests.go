package daemon

import "go.uber.org/zap"

// followND makes a port's socket read neighbour discovery exactly when
// the port's policy learns its guests from it (nd_guests): other ports'
// ND would cost a read and a decode per frame for nothing. was is what the
// socket was set to. A socket that cannot be set is logged: its port then
// learns nothing from ND, as it would without the option.
func (l *bridgeLoop) followND(p *portIO, was bool) {
	if p == nil {
		return
	}
	on := l.settings.policy(p.link.Name).NDGuests
	if on == was {
		return
	}
	if err := p.conn.SetND(on); err != nil {
		l.log.Warn("cannot set the port's socket to read neighbour discovery", zap.String("port", p.link.Name), zap.Bool("nd_guests", on), zap.Error(err))
		return
	}
	l.log.Info("neighbour discovery read", zap.String("port", p.link.Name), zap.Bool("on", on))
}
