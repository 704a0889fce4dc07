package main

import (
	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// mdbOp is one MDB write: the entry to install (replace) or remove.
type mdbOp struct {
	entry  bridge.Entry
	remove bool
}

// key is the membership the op writes.
func (op mdbOp) key() fdb.Key { return fdb.Key{VLAN: op.entry.VID, Group: op.entry.Group} }

// mdbFailure is a write the kernel (or the encoder) refused: ops[op].
type mdbFailure struct {
	op  int
	err error
}

// mdbDone is what the writer hands back for one job: its ops, for reuse,
// and those that failed.
type mdbDone struct {
	ops    []mdbOp
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
// are submitted, each as one MDBBatch flush; the results come back on done
// for the loop to handle, so only the loop touches the engine.
type mdbWriter struct {
	batch *bridge.MDBBatch
	jobs  chan []mdbOp
	done  chan mdbDone // room for every job in flight: the writer never waits on the loop
	// Loop side.
	pending  []mdbOp   // being gathered for the next job
	spare    [][]mdbOp // op slices back from the writer
	inFlight int
	stopped  chan struct{}
}

func newMDBWriter(batch *bridge.MDBBatch) *mdbWriter {
	w := &mdbWriter{batch: batch, jobs: make(chan []mdbOp, mdbJobs), done: make(chan mdbDone, mdbJobs), stopped: make(chan struct{})}
	go w.run()
	return w
}

// run writes jobs until jobs is closed.
func (w *mdbWriter) run() {
	defer close(w.stopped)
	var queued []int // ops index of each queued write
	for ops := range w.jobs {
		var failed []mdbFailure
		queued = queued[:0]
		for i := range ops {
			var err error
			if ops[i].remove {
				err = w.batch.Delete(ops[i].entry)
			} else {
				err = w.batch.Replace(ops[i].entry)
			}
			if err != nil {
				failed = append(failed, mdbFailure{i, err})
				continue
			}
			queued = append(queued, i)
		}
		if w.batch.Len() > 0 {
			for j, err := range w.batch.Flush() {
				if err != nil {
					failed = append(failed, mdbFailure{queued[j], err})
				}
			}
		}
		w.done <- mdbDone{ops: ops, failed: failed}
	}
}

// queue adds a write to the job being gathered (loop side).
func (w *mdbWriter) queue(op mdbOp) { w.pending = append(w.pending, op) }

// submit hands the gathered writes to the writer, first waiting for (and
// handling, with handle) a finished job if mdbJobs are in flight.
func (w *mdbWriter) submit(handle func(mdbDone)) {
	if len(w.pending) == 0 {
		return
	}
	for w.inFlight >= mdbJobs {
		w.finish(<-w.done, handle)
	}
	w.jobs <- w.pending
	w.inFlight++
	w.pending = nil
	if n := len(w.spare); n > 0 {
		w.pending, w.spare = w.spare[n-1][:0], w.spare[:n-1]
	}
}

// finish handles a finished job and keeps its slice for reuse.
func (w *mdbWriter) finish(r mdbDone, handle func(mdbDone)) {
	w.inFlight--
	handle(r)
	w.spare = append(w.spare, r.ops[:0])
}

// sync submits what is gathered and waits until the kernel has answered
// every write: what the loop reads from the MDB afterwards includes them.
func (w *mdbWriter) sync(handle func(mdbDone)) {
	w.submit(handle)
	for w.inFlight > 0 {
		w.finish(<-w.done, handle)
	}
}

// close waits for every write, then stops the writer.
func (w *mdbWriter) close(handle func(mdbDone)) {
	w.sync(handle)
	close(w.jobs)
	<-w.stopped
}
