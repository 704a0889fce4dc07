//go:build !linux

package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// setupLab makes cmd refuse, whatever its flags: the lab is made of Linux
// network namespaces.
func setupLab(cmd *cobra.Command, _, _ io.Writer) {
	cmd.DisableFlagParsing = true
	cmd.Args = nil
	cmd.RunE = func(*cobra.Command, []string) error {
		return errors.New("igmpsnoop lab needs Linux: it builds network namespaces")
	}
}
