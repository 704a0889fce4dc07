//go:build !linux

package main

import (
	"errors"
	"io"
)

// cmdLab refuses: the lab is made of Linux network namespaces.
func cmdLab(args []string, stdout, stderr io.Writer) error {
	return errors.New("igmpsnoop lab needs Linux: it builds network namespaces")
}
