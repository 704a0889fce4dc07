package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// bridgeSnapshot is one bridge's figures, taken on its loop goroutine for
// a metrics scrape.
type bridgeSnapshot struct {
	Bridge   string
	Stats    snoop.Stats
	Ports    []snoop.PortView
	Routers  int
	Queriers []snoop.QuerierView
	MDB      struct{ Installs, InstallErrors, Removes, RemoveErrors uint64 }
	// Groups are the per-group counts, taken only for a bridge with
	// group metrics on.
	Groups []snoop.GroupCount
}

// metrics exposes Prometheus metrics named igmpsnoop_*. Gauges and counters
// come from bridge snapshots taken at scrape time (the engine's own
// counters, so they can never disagree with `show stats`); the loop
// latency histogram is observed as frames are handled, for at most one
// frame a millisecond (observeEvery): a storm does not pay per frame.
type metrics struct {
	reg      *prometheus.Registry
	loop     *prometheus.HistogramVec
	snapshot func(context.Context) ([]bridgeSnapshot, error)
}

var (
	descGroups      = prometheus.NewDesc("igmpsnoop_groups", "Groups with at least one member port.", []string{"bridge"}, nil)
	descMembers     = prometheus.NewDesc("igmpsnoop_memberships", "Memberships (group, port) per port.", []string{"bridge", "port"}, nil)
	descRouters     = prometheus.NewDesc("igmpsnoop_router_ports", "Router ports (per protocol and VLAN).", []string{"bridge"}, nil)
	descQuerier     = prometheus.NewDesc("igmpsnoop_querier_present", "1 if a querier is present (1 with self=\"true\" if it is this daemon).", []string{"bridge", "protocol", "self"}, nil)
	descReceived    = prometheus.NewDesc("igmpsnoop_messages_received_total", "Valid messages received, by type and version.", []string{"bridge", "type"}, nil)
	descRefused     = prometheus.NewDesc("igmpsnoop_messages_refused_total", "Frames refused by the decoder, by reason.", []string{"bridge", "reason"}, nil)
	descIgnored     = prometheus.NewDesc("igmpsnoop_messages_ignored_total", "Valid messages that changed nothing, by reason.", []string{"bridge", "reason"}, nil)
	descPortRx      = prometheus.NewDesc("igmpsnoop_port_messages_received_total", "Valid messages received per port.", []string{"bridge", "port"}, nil)
	descGuard       = prometheus.NewDesc("igmpsnoop_guard_dropped_total", "Reports and leaves kept from the bridge by the ingress guard.", []string{"bridge", "port"}, nil)
	descGuardRelay  = prometheus.NewDesc("igmpsnoop_guard_relayed_total", "Reports the ingress guard relayed to the router ports itself (among those it dropped).", []string{"bridge", "port"}, nil)
	descRelayLeak   = prometheus.NewDesc("igmpsnoop_guard_relayed_refused_total", "Reports the ingress guard relayed that the daemon then refused (should stay 0).", []string{"bridge"}, nil)
	descSockDrop    = prometheus.NewDesc("igmpsnoop_socket_dropped_total", "Frames the kernel dropped before the daemon read them.", []string{"bridge", "port"}, nil)
	descRelayed     = prometheus.NewDesc("igmpsnoop_reports_relayed_total", "Reports and leaves relayed to router ports.", []string{"bridge"}, nil)
	descQueries     = prometheus.NewDesc("igmpsnoop_queries_sent_total", "Queries sent by the daemon.", []string{"bridge"}, nil)
	descMDBOps      = prometheus.NewDesc("igmpsnoop_mdb_operations_total", "MDB writes, by operation.", []string{"bridge", "op"}, nil)
	descMDBErrors   = prometheus.NewDesc("igmpsnoop_mdb_errors_total", "MDB writes the kernel refused, by operation.", []string{"bridge", "op"}, nil)
	descScrapeError = prometheus.NewDesc("igmpsnoop_scrape_error", "1 if the last scrape could not read every bridge.", nil, nil)
	// Per group, with group metrics on: as many series as groups, which
	// the group limit bounds.
	descGroupMembers = prometheus.NewDesc("igmpsnoop_group_members", "Member ports of a group (with group metrics on; at most the group limit of series).", []string{"bridge", "group", "vlan"}, nil)
	descGroupHosts   = prometheus.NewDesc("igmpsnoop_group_hosts", "Hosts tracked behind a group's member ports (with group metrics on; at most the group limit of series).", []string{"bridge", "group", "vlan"}, nil)
)

func newMetrics(snapshot func(context.Context) ([]bridgeSnapshot, error)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		loop: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "igmpsnoop_engine_loop_seconds",
			Help:    "Time to decode a frame, run the engine and queue its actions, sampled: at most one frame a millisecond is timed.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}, []string{"bridge"}),
		snapshot: snapshot,
	}
	m.reg.MustRegister(m.loop, m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// loopObserver returns what observes one bridge's loop latency: the
// label is looked up once, not per frame.
func (m *metrics) loopObserver(bridge string) func(time.Duration) {
	o := m.loop.WithLabelValues(bridge)
	return func(d time.Duration) { o.Observe(d.Seconds()) }
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroups, descMembers, descRouters, descQuerier, descReceived, descRefused, descIgnored,
		descPortRx, descGuard, descGuardRelay, descRelayLeak, descSockDrop, descRelayed, descQueries, descMDBOps, descMDBErrors, descScrapeError, descGroupMembers, descGroupHosts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snaps, err := m.snapshot(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(descScrapeError, prometheus.GaugeValue, failed)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range snaps {
		b := s.Bridge
		gauge(descGroups, float64(s.Stats.Groups), b)
		gauge(descRouters, float64(s.Routers), b)
		for _, p := range s.Ports {
			gauge(descMembers, float64(p.Groups), b, p.Port)
			counter(descPortRx, p.Received, b, p.Port)
			counter(descGuard, p.GuardDropped, b, p.Port)
			counter(descGuardRelay, p.GuardRelayed, b, p.Port)
			counter(descSockDrop, p.SocketDropped, b, p.Port)
		}
		for _, q := range s.Queriers {
			if q.VLAN != 0 {
				continue
			}
			v := 0.0
			if q.Present {
				v = 1
			}
			self := "false"
			if q.Self {
				self = "true"
			}
			gauge(descQuerier, v, b, q.Protocol, self)
		}
		for k, v := range s.Stats.Received {
			counter(descReceived, v, b, k)
		}
		for k, v := range s.Stats.Refused {
			counter(descRefused, v, b, k)
		}
		for k, v := range s.Stats.Ignored {
			counter(descIgnored, v, b, k)
		}
		counter(descRelayed, s.Stats.Relayed, b)
		counter(descRelayLeak, s.Stats.GuardRelayedRefused, b)
		counter(descQueries, s.Stats.SentQueries, b)
		counter(descMDBOps, s.MDB.Installs, b, "install")
		counter(descMDBOps, s.MDB.Removes, b, "remove")
		counter(descMDBErrors, s.MDB.InstallErrors, b, "install")
		counter(descMDBErrors, s.MDB.RemoveErrors, b, "remove")
		for _, g := range s.Groups {
			group, vlan := g.Group.String(), strconv.Itoa(int(g.VLAN))
			gauge(descGroupMembers, float64(g.Ports), b, group, vlan)
			gauge(descGroupHosts, float64(g.Hosts), b, group, vlan)
		}
	}
}

// serve answers /metrics on ln until ctx ends.
func (m *metrics) serve(ctx context.Context, ln net.Listener, log *zap.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server stopped", zap.Error(err))
	}
}
