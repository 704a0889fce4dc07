package daemon

// mdbFailure is a write the kernel (or the encoder) refused: ops[op].
type mdbFailure struct {
	op  int
	err error
}

// mdbDone is what the writer hands back for one job: its ops, for reuse,
// and those that failed.
type mdbDone struct {
	ops    []MDBOp
	failed []mdbFailure
}

// mdbJobs bounds the jobs in flight between the loop and the writer. When
// the writer is that far behind, the loop waits for it: a storm is paced
// by the kernel's MDB writes, not queued without bound.
const mdbJobs = 3

// mdbWriter writes MDB changes in a goroutine of its own. The kernel's MDB
// add runs in the thread that sends the netlink message; with the writes
// off the loop, a join storm's MDB work overlaps the engine's work on the
// next frames instead of following it. Jobs are written in the order they
// are submitted, each as one MDB.Write; the results come back on done
// for the loop to handle (handle), so only the loop touches the engine.
type mdbWriter struct {
	mdb    MDB
	jobs   chan []MDBOp
	done   chan mdbDone // room for every job in flight: the writer never waits on the loop
	handle func(mdbDone)
	// Loop side.
	pending  []MDBOp   // being gathered for the next job
	spare    [][]MDBOp // op slices back from the writer
	inFlight int
	stopped  chan struct{}
}

func newMDBWriter(mdb MDB, handle func(mdbDone)) *mdbWriter {
	w := &mdbWriter{mdb: mdb, handle: handle, jobs: make(chan []MDBOp, mdbJobs), done: make(chan mdbDone, mdbJobs), stopped: make(chan struct{})}
	w.pending = w.fresh()
	go w.run()
	return w
}

// run writes jobs until jobs is closed.
func (w *mdbWriter) run() {
	defer close(w.stopped)
	for ops := range w.jobs {
		var failed []mdbFailure
		for i, err := range w.mdb.Write(ops) {
			if err != nil {
				failed = append(failed, mdbFailure{i, err})
			}
		}
		w.done <- mdbDone{ops: ops, failed: failed}
	}
}

// queue adds a write to the job being gathered (loop side).
func (w *mdbWriter) queue(op MDBOp) { w.pending = append(w.pending, op) }

// submit hands the gathered writes to the writer, first waiting for (and
// handling) a finished job if mdbJobs are in flight.
func (w *mdbWriter) submit() {
	if len(w.pending) == 0 {
		return
	}
	for w.inFlight >= mdbJobs {
		w.finish(<-w.done)
	}
	w.jobs <- w.pending
	w.inFlight++
	w.pending = w.fresh()
}

// fresh returns an empty op slice: one back from the writer, or a new one
// with room for a burst's writes, so that a storm's jobs are not grown an
// append at a time. At most mdbJobs+1 are ever made (in flight, and the
// one being gathered).
func (w *mdbWriter) fresh() []MDBOp {
	if n := len(w.spare); n > 0 {
		ops := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return ops
	}
	return make([]MDBOp, 0, maxBurst)
}

// finish handles a finished job and keeps its slice for reuse.
func (w *mdbWriter) finish(r mdbDone) {
	w.inFlight--
	w.handle(r)
	clear(r.ops) // the entries' source lists go
	w.spare = append(w.spare, r.ops[:0])
}

// sync submits what is gathered and waits until the kernel has answered
// every write: what the loop reads from the MDB afterwards includes them.
func (w *mdbWriter) sync() {
	w.submit()
	for w.inFlight > 0 {
		w.finish(<-w.done)
	}
}

// write has the writer apply ops, waits for the kernel's answers and
// returns how many it refused (each also handled as any write's failure
// is; an entry already gone counts as refused, not as removed).
func (w *mdbWriter) write(ops []MDBOp) (failed int) {
	w.sync() // earlier writes' failures are not these
	for _, op := range ops {
		w.queue(op)
	}
	handle := w.handle
	w.handle = func(r mdbDone) {
		failed += len(r.failed)
		handle(r)
	}
	defer func() { w.handle = handle }()
	w.sync()
	return failed
}

// close waits for every write, then stops the writer.
func (w *mdbWriter) close() {
	w.sync()
	close(w.jobs)
	<-w.stopped
}
