package main

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestParseLab(t *testing.T) {
	o, err := parseLab([]string{"--duration", "30s", "--keep", "--ascii"}, io.Discard)
	if err != nil || o.Step != 5*time.Second || !o.Keep || !o.ASCII {
		t.Fatalf("parseLab = %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"--step", "2s", "--duration", "20s"},
		{"--step", "500ms"},
		{"extra"},
	} {
		var ue usageError
		if _, err := parseLab(args, io.Discard); !errors.As(err, &ue) {
			t.Errorf("parseLab(%q) = %v, want a usage error", args, err)
		}
	}
}
