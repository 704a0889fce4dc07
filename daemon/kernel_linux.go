package daemon

// LinuxKernel returns the Kernel of the running Linux system.
func LinuxKernel() Kernel { return nil }
