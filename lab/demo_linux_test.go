package lab

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The demo itself needs root and runs in the integration tests (package
// integration, lab_demo_linux_test.go); these test its parts that do not.

// ticks builds n one-second ticks from start where every cell has the
// given expectation and packet count; the router gets 20 of each group.
func ticks(start time.Time, n int, want expect, rx int) []demoTick {
	var out []demoTick
	for i := range n {
		tk := demoTick{start: start.Add(time.Duration(i) * time.Second), end: start.Add(time.Duration(i+1) * time.Second)}
		for range demoHosts {
			tk.rx = append(tk.rx, []int{rx, rx})
			tk.want = append(tk.want, []expect{want, want})
			tk.kinds = append(tk.kinds, []pairKind{notJoined, notJoined})
		}
		tk.rx = append(tk.rx, []int{20, 20})
		out = append(out, tk)
	}
	return out
}

func TestDemoScriptHasDemoSteps(t *testing.T) {
	if n := len(demoScript()); n != DemoSteps {
		t.Fatalf("the script has %d steps; DemoSteps, which --duration divides by, says %d", n, DemoSteps)
	}
}

func TestLabJudgeTicks(t *testing.T) {
	start := time.Unix(1000, 0)
	good := append(ticks(start, 2, wantNothing, 0), ticks(start.Add(2*time.Second), 2, wantTraffic, 20)...)
	lines, err := judgeTicks(good, nil, start)
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "pruning verified: non-members received 0 packets while members received 240") {
		t.Fatalf("good run: %v\n%s", err, strings.Join(lines, "\n"))
	}

	leak := ticks(start, 2, wantNothing, 0)
	leak[1].rx[1][0] = 7 // h2 gets news though it is no member
	if _, err := judgeTicks(leak, nil, start); err == nil || !strings.Contains(err.Error(), "h2, not a member of news, received 7 packets at t=1-2s") {
		t.Fatalf("leak: %v", err)
	}

	blackHole := append(ticks(start, 1, wantNothing, 0), ticks(start.Add(time.Second), 1, wantTraffic, 20)...)
	blackHole[1].rx[2][1] = 0
	if _, err := judgeTicks(blackHole, nil, start); err == nil || !strings.Contains(err.Error(), "h3, a member of video, received nothing") {
		t.Fatalf("black hole: %v", err)
	}

	// A leave: traffic in the second it happened, nothing after.
	leave := ticks(start, 3, wantNothing, 0)
	leave[0].want[0][0] = unjudged
	leave[0].rx[0][0] = 15
	ev := []demoEvent{{host: 0, group: 0, kind: notJoined, at: start.Add(200 * time.Millisecond)}}
	leave = append(leave, ticks(start.Add(3*time.Second), 1, wantTraffic, 20)...)
	leave[3].want[0][0], leave[3].rx[0][0] = wantNothing, 0
	lines, err = judgeTicks(leave, ev, start)
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "h1 left news: its news stopped within 0.8s") {
		t.Fatalf("leave: %v\n%s", err, strings.Join(lines, "\n"))
	}

	// Nothing judged after a leave: inconclusive, not verified.
	ev[0].at = start.Add(10 * time.Second)
	if _, err := judgeTicks(leave, ev, start); err == nil || !strings.Contains(err.Error(), "too late in the script to judge") {
		t.Fatalf("unjudged leave: %v", err)
	}
}

func TestLabRenderTick(t *testing.T) {
	start := time.Unix(1000, 0)
	tk := ticks(start, 1, wantNothing, 0)[0]
	tk.kinds[0][0], tk.want[0][0], tk.rx[0][0] = joined, wantTraffic, 20
	tk.kinds[2][0], tk.want[2][0], tk.rx[2][0] = silent, unjudged, 19
	tk.rx[1][1] = 3 // a leak, marked
	view := []snoop.GroupView{{Group: "239.1.1.1", Port: "h1", ExpiresMs: 4200}, {Group: "239.1.1.1", Port: "h3", ExpiresMs: 900, Leaving: true}}
	var b bytes.Buffer
	renderTick(&b, asciiMarks, tk, start, "step 2/6: h1 joins news", view, nil)
	want := `t= 1s  step 2/6: h1 joins news
  HOST     NEWS 239.1.1.1                   VIDEO 239.2.2.2
  h1        20 + member                       0 . not joined
  h2         0 . not joined                   3 . not joined <- WRONG
  h3        19 ~ silent, not yet aged out     0 . not joined
  router    20   router port                 20   router port
  daemon (show groups): news -> h1 (4.2s), h3 (leaving: queried, 0.9s); video -> nobody

`
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
